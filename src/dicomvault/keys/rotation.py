"""Key rotation: a new version of every KEK, every data key re-wrapped, old versions retired.

``dicomvault keys rotate`` (and ``POST /api/keys/rotate``) run
:func:`rotate_keys`. For each study KEK, in name order:

1. ``provider.rotate(name)``: a new version (once per run: ``study_keys``
   records the run that rotated it, so a resumed run does not rotate again);
2. re-wrap, in batches of ``batch_size`` (one transaction each), every data key
   of the index still wrapped under an older version of that KEK. Only the
   small wrapped keys change (``instances.kek_id``, ``instances.wrapped_key``);
   no blob is read or rewritten. Each row is updated only if it still holds
   what was read (a concurrent delete or replace simply wins);
3. in one transaction holding the ``study_keys`` row locked: check that no
   row still uses an older version and only then ``provider.retire`` them
   (Transit: ``min_decryption_version`` + trim) and mark the KEK done.

Interrupted at any point (Ctrl-C, crash, KMS outage), a new call resumes the
unfinished run (``key_rotations.finished_at IS NULL``): KEKs marked done are
skipped, a half re-wrapped KEK continues where it stopped. ``on_progress`` is
called after every batch and every KEK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dicomvault.errors import KeyUnavailableError
from dicomvault.index.database import write_transaction
from dicomvault.index.schema import instances
from dicomvault.keys.provider import KeyProvider, key_ref
from dicomvault.keys.schema import key_rotations, study_keys

DEFAULT_BATCH = 256


@dataclass
class RotationProgress:
    """Where a rotation run stands (also what ``GET /api/keys`` reports)."""

    rotation_id: int
    resumed: bool
    keys_total: int
    keys_done: int = 0
    instances_total: int = 0
    instances_rewrapped: int = 0
    finished: bool = False


ProgressCallback = Callable[[RotationProgress], None]


def _older_than(name: str, target: str) -> sa.ColumnElement[bool]:
    return sa.and_(instances.c.kek_id.startswith(f"{name}.v", autoescape=True),
                   instances.c.kek_id != target)


def rewrap_key(engine: sa.Engine, provider: KeyProvider, name: str, *, rotate: bool,
               batch_size: int = DEFAULT_BATCH,
               on_batch: Callable[[int], None] | None = None) -> int:
    """Optionally rotate KEK ``name``, re-wrap every data key under its latest version,
    retire the older versions. Returns how many data keys were re-wrapped.

    Also used after deleting part of a study: the remaining instances are re-keyed
    and the old version destroyed, so backups of the deleted part no longer decrypt.
    """
    latest = provider.rotate(name) if rotate else provider.latest_version(name)
    target = key_ref(name, latest)
    rewrapped = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(instances.c.pk, instances.c.kek_id, instances.c.wrapped_key)
                .where(_older_than(name, target)).order_by(instances.c.pk).limit(batch_size)
            ).all()
        if not rows:
            with write_transaction(engine) as conn:
                conn.execute(sa.select(study_keys.c.key_name)
                             .where(study_keys.c.key_name == name).with_for_update())
                remaining = conn.execute(sa.select(sa.func.count()).select_from(instances)
                                         .where(_older_than(name, target))).scalar_one()
                if remaining == 0:
                    if latest > 1:
                        provider.retire(name, latest)
                    return rewrapped
            continue
        updates: list[dict[str, object]] = []
        by_ref: dict[str, list[Any]] = {}
        for row in rows:
            by_ref.setdefault(row.kek_id, []).append(row)
        for ref, group in by_ref.items():
            fresh = provider.rewrap(ref, [bytes(row.wrapped_key) for row in group])
            updates.extend(
                {"b_pk": row.pk, "b_old": ref, "b_ref": new.kek_id, "b_wrapped": new.wrapped}
                for row, new in zip(group, fresh, strict=True)
            )
        with write_transaction(engine) as conn:
            conn.execute(
                instances.update()
                .where(instances.c.pk == sa.bindparam("b_pk"),
                       instances.c.kek_id == sa.bindparam("b_old"))
                .values(kek_id=sa.bindparam("b_ref"), wrapped_key=sa.bindparam("b_wrapped")),
                updates,
            )
        rewrapped += len(updates)
        if on_batch is not None:
            on_batch(len(updates))


def _open_run(engine: sa.Engine) -> tuple[int, bool]:
    with write_transaction(engine) as conn:
        unfinished = conn.execute(
            sa.select(key_rotations.c.id).where(key_rotations.c.finished_at.is_(None))
            .order_by(key_rotations.c.id.desc()).limit(1)
        ).scalar_one_or_none()
        if unfinished is not None:
            return int(unfinished), True
        result = conn.execute(key_rotations.insert().values(
            started_at=datetime.now(UTC), keys_total=0, keys_done=0, instances_rewrapped=0))
        inserted = result.inserted_primary_key
        assert inserted is not None
        return int(inserted[0]), False


def _pending(engine: sa.Engine, run: int) -> list[tuple[str, bool]]:
    """(KEK name, already rotated in this run) of every KEK this run has not finished."""
    not_done = sa.or_(study_keys.c.rotation_id.is_(None), study_keys.c.rotation_id != run,
                      study_keys.c.rotation_done.is_(False))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(study_keys.c.key_name, study_keys.c.rotation_id)
            .where(not_done).order_by(study_keys.c.key_name)
        ).all()
    return [(row.key_name, row.rotation_id == run) for row in rows]


def _mark(engine: sa.Engine, name: str, run: int, *, done: bool) -> None:
    with write_transaction(engine) as conn:
        conn.execute(study_keys.update().where(study_keys.c.key_name == name)
                     .values(rotation_id=run, rotation_done=done))


def _instances_of(engine: sa.Engine, names: list[str]) -> int:
    if not names:
        return 0
    with engine.connect() as conn:
        total = 0
        for start in range(0, len(names), 500):
            chunk = names[start:start + 500]
            total += int(conn.execute(
                sa.select(sa.func.count()).select_from(instances).where(sa.or_(
                    *(instances.c.kek_id.startswith(f"{n}.v", autoescape=True) for n in chunk)))
            ).scalar_one())
        return total


def rotate_keys(engine: sa.Engine, provider: KeyProvider, *,
                on_progress: ProgressCallback | None = None,
                batch_size: int = DEFAULT_BATCH) -> RotationProgress:
    """Rotate every study KEK (resuming an interrupted run); see the module docstring."""
    run, resumed = _open_run(engine)
    pending = _pending(engine, run)
    with engine.connect() as conn:
        total_keys = int(conn.execute(sa.select(sa.func.count()).select_from(study_keys))
                         .scalar_one())
    progress = RotationProgress(
        rotation_id=run, resumed=resumed, keys_total=total_keys,
        keys_done=total_keys - len(pending),
        instances_total=_instances_of(engine, [name for name, _ in pending]),
    )

    def batch_done(count: int) -> None:
        progress.instances_rewrapped += count
        if on_progress is not None:
            on_progress(progress)

    for name, rotated in pending:
        try:
            if not rotated:
                provider.rotate(name)
                _mark(engine, name, run, done=False)
            rewrap_key(engine, provider, name, rotate=False, batch_size=batch_size,
                       on_batch=batch_done)
        except KeyUnavailableError:
            pass  # the study was deleted meanwhile: its key is shredded, nothing to rotate
        _mark(engine, name, run, done=True)
        progress.keys_done += 1
        if on_progress is not None:
            on_progress(progress)
    with write_transaction(engine) as conn:
        conn.execute(key_rotations.update().where(key_rotations.c.id == run).values(
            finished_at=datetime.now(UTC), keys_total=progress.keys_total,
            keys_done=progress.keys_done, instances_rewrapped=key_rotations.c.instances_rewrapped
            + progress.instances_rewrapped))
    progress.finished = True
    return progress
