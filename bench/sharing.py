"""Federated retrieval throughput: instances per second a partner pulls under an agreement.

A grantor ``dicomvault serve`` subprocess holds one synthetic CT series
(``--instances`` slices of 256x256); the grantee (in this process) accepts an
agreement and runs ``partner retrieve``: per instance a signed QIDO/WADO
round trip, scope check, UID map, de-identification, the use counter and its
ledger event at the grantor, then the import and its ledger events at the
grantee. Each run uses a fresh agreement (fresh pseudonyms, so every import
is new). Figures are medians of ``--runs`` runs.

    PYTHONPATH=src python -m bench.sharing
    PYTHONPATH=src python -m bench.sharing --instances 20 --runs 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import dicomvault_node, median, print_command
from dicomvault.access import Door, system_context
from dicomvault.config import load_settings
from dicomvault.dicom.synthetic import generate_series, to_part10
from dicomvault.index import write_transaction
from dicomvault.node import open_archive
from dicomvault.sharing.agreement import ScopeKind, ShareScope
from dicomvault.sharing.grantee import ShareReceiver
from dicomvault.sharing.grants import GrantRequest, ShareGrants
from dicomvault.sharing.institution import InstitutionKey
from dicomvault.sharing.partners import add_partner

PASSPHRASE = "bench passphrase"
CTX = system_context(Door.CLI, actor="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print_command()
    series = [to_part10(ds) for ds in generate_series(count=args.instances, modality="CT",
                                                      rows=256, columns=256, seed=7)]
    with dicomvault_node(extra_env={"DICOMVAULT_KEYRING_PASSPHRASE": PASSPHRASE}) as server, \
            tempfile.TemporaryDirectory(prefix="dv-bench-grantee-") as grantee_dir:
        url = server.base_url.removesuffix("/dicom-web")
        grantor, _ = open_archive(load_settings(data_dir=server.data_dir,
                                                keyring_passphrase=PASSPHRASE))
        grantee, _ = open_archive(load_settings(data_dir=Path(grantee_dir),
                                                keyring_passphrase=PASSPHRASE))
        study_uid = ""
        for data in series:
            study_uid = grantor.store_bytes(data, CTX).study_instance_uid
        grantor_key = InstitutionKey.load_or_create(grantor.settings.keys_dir)
        grantee_key = InstitutionKey.load_or_create(grantee.settings.keys_dir)
        with write_transaction(grantee.engine) as conn:
            add_partner(conn, grantor_key.identity, "grantor", url, None)
        receiver = ShareReceiver(grantee, grantee_key)
        timings = []
        for _ in range(args.runs):
            record = ShareGrants(grantor, grantor_key).create(CTX, GrantRequest(
                grantee=grantee_key.identity, scope=ShareScope(ScopeKind.STUDY, (study_uid,)),
                purpose="bench", expires=datetime.now(UTC) + timedelta(hours=1),
                max_retrievals=args.instances,
                deid_profile=["retain-longitudinal-modified-dates"]))
            receiver.accept(CTX, "grantor", record.agreement.share_id)
            start = time.perf_counter()
            report = receiver.retrieve(CTX, record.agreement.share_id)
            timings.append(time.perf_counter() - start)
            assert len(report.imported) == args.instances and report.ended is None
        seconds = median(timings)
        print(f"federated retrieve of {args.instances} CT 256x256 instances "
              f"(signed, scoped, de-identified, imported): {seconds:.2f} s, "
              f"{args.instances / seconds:.1f} instances/s, "
              f"{1000 * seconds / args.instances:.1f} ms/instance (median of {args.runs})")
        grantor.engine.dispose()
        grantee.engine.dispose()


if __name__ == "__main__":
    main()
