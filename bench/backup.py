"""Backup and restore throughput: MB/s of a full backup, an incremental one and a restore.

A node (SQLite, fsync on, its own data directory) is filled with
``--instances`` synthetic 512x512 16-bit CT instances (~0.5 MB each); then

* ``backup run`` to a directory target on the same disk (a full generation:
  snapshot + every blob), timed: MB/s of sealed bytes written;
* ``--extra`` more instances are stored and a second, incremental
  generation is made: seconds and MB/s;
* ``restore`` into a new data directory, timed end to end (snapshot load,
  every blob copied and checked against the manifest, every instance
  decrypted and verified against its ledger hash): MB/s;
* with ``--s3``, the same backup and restore through moto's S3 server
  (a local S3-protocol process; not a measure of a real object store).

Each figure is the median of ``--runs`` runs on fresh directories.

    python -m bench.backup
    python -m bench.backup --instances 100 --runs 3 --s3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import median, print_command
from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.backup import open_target, restore, run_backup
from dicomvault.config import Settings, load_settings
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.keys.recovery import collect
from dicomvault.node import open_archive

_MB = 1024 * 1024
_PASSPHRASE = "benchmark passphrase"


def _settings(root: Path, name: str, extra: dict[str, object]) -> Settings:
    return load_settings(data_dir=root / name, keyring_passphrase=_PASSPHRASE,
                         scrub_interval_hours=0, **extra)


def _store(archive: Archive, count: int, seed: int) -> int:
    files = generate_study_files(series=max(1, count // 50), per_series=min(count, 50),
                                 rows=512, columns=512, seed=seed)[:count]
    ctx = system_context(Door.CLI, actor="bench")
    for _, _outcome in archive.store_many(((str(i), [data]) for i, data in enumerate(files)),
                                          ctx):
        pass
    return sum(len(data) for data in files)


def _timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def one_run(instances: int, extra: int, s3_settings: dict[str, object] | None,
            target_url: str | None) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="dv-bench-backup-"))
    options = s3_settings or {}
    try:
        node, _ = open_archive(_settings(root, "node", options))
        _store(node, instances, seed=1)
        location = target_url or str(root / "backup")
        target = open_target(location, node.settings)
        full_s, full = _timed(lambda: run_backup(node, target, keep=7))
        _store(node, extra, seed=2)
        incr_s, incr = _timed(lambda: run_backup(node, target, keep=7))
        keys = collect(node.settings, node.keys)
        node.engine.dispose()
        new = _settings(root, "restored", options)
        restore_s, report = _timed(lambda: restore(new, open_target(location, new), keys=keys))
        full_bytes = full.bytes_copied + full.snapshot_bytes  # type: ignore[attr-defined]
        incr_bytes = incr.bytes_copied + incr.snapshot_bytes  # type: ignore[attr-defined]
        restored = report.bytes_restored  # type: ignore[attr-defined]
        return {
            "full MB/s": full_bytes / _MB / full_s,
            "full s": full_s,
            "incremental s": incr_s,
            "incremental MB/s": incr_bytes / _MB / incr_s,
            "restore MB/s": restored / _MB / restore_s,
            "restore s": restore_s,
            "data MB": full_bytes / _MB,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _report(label: str, runs: list[dict[str, float]]) -> None:
    print(f"{label}:")
    for key in runs[0]:
        values = [run[key] for run in runs]
        print(f"  {key:18s} median {median(values):8.2f}   runs: "
              + ", ".join(f"{v:.2f}" for v in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--extra", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="also through moto's S3 server")
    args = parser.parse_args()
    print_command()
    print(f"{args.instances} + {args.extra} instances of 512x512 16-bit CT, "
          f"{args.runs} runs (the machine is shared: figures are noisy)")
    _report("directory target", [one_run(args.instances, args.extra, None, None)
                                 for _ in range(args.runs)])
    if args.s3:
        from tests.support.s3 import moto_s3

        with moto_s3() as s3:
            runs = []
            for number in range(args.runs):
                bucket = s3.bucket(f"bench{number}")
                runs.append(one_run(args.instances, args.extra, s3.settings(),
                                    f"s3://{bucket}/backup"))
            _report("S3 target (moto server, local)", runs)


if __name__ == "__main__":
    main()
