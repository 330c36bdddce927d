"""The study level of the key hierarchy, and crypto-shredding.

Every study has its own KEK at the key provider (``study_keys`` maps the
study to the key's random name). Each object's data key is wrapped by its
study's KEK, so that destroying one key makes one study unreadable everywhere
at once: in the live store and in every backup of the index and blobs taken
before, because what those copies hold (blobs sealed under data keys, data
keys wrapped under the study KEK) is useless without the KEK, which existed
only at the provider. See :mod:`dicomvault.keys.provider` for the contract.

Order of a delete (the Archive service's transaction)::

    DELETE instance rows ... ; forget_study(): DELETE study_keys row,
    INSERT shred_queue row  -> COMMIT -> shred_pending(): provider.destroy(),
    DELETE shred_queue row

so a KMS that is down at that moment leaves the key queued, and the next
delete, rotation or node start destroys it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.errors import KeyUnavailableError, OutOfResourcesError
from dicomvault.index.database import write_transaction
from dicomvault.keys.provider import KeyProvider, WrappedKey, parse_key_ref
from dicomvault.keys.schema import shred_queue, study_keys

log = logging.getLogger(__name__)
_CACHE_LIMIT = 4096


# Built once (every store runs it): building and cache-keying a statement costs more
# than running it.
_KEYS_OF_STUDIES = (
    sa.select(study_keys.c.StudyInstanceUID, study_keys.c.key_name)
    .where(study_keys.c.StudyInstanceUID.in_(sa.bindparam("uids", expanding=True)))
    .with_for_update(read=True)
)


class StudyKeys:
    """Finds or creates the KEK of a study, and shreds the KEKs of deleted studies."""

    def __init__(self, engine: sa.Engine, provider: KeyProvider) -> None:
        self.engine = engine
        self.provider = provider
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def _lookup(self, conn: sa.Connection, study_uid: str) -> str | None:
        statement = sa.select(study_keys.c.key_name).where(
            study_keys.c.StudyInstanceUID == study_uid)
        return conn.execute(statement).scalar_one_or_none()

    def key_for(self, study_uid: str) -> str:
        """The name of the study's KEK, created at the provider on first use."""
        with self._lock:
            cached = self._cache.get(study_uid)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            name = self._lookup(conn, study_uid)
        if name is None:
            name = self._create(study_uid)
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[study_uid] = name
        return name

    def _create(self, study_uid: str) -> str:
        created = self.provider.create_key()
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(study_keys.insert().values(
                    StudyInstanceUID=study_uid, key_name=created,
                    created_at=datetime.now(UTC), rotation_id=None, rotation_done=True))
        except sa.exc.IntegrityError:
            # Another upload of the same study won the race: use its key, drop ours.
            self.provider.destroy(created)
            with self.engine.connect() as conn:
                winner = self._lookup(conn, study_uid)
            if winner is None:  # pragma: no cover - the winner's study was deleted meanwhile
                raise OutOfResourcesError("the study was deleted while storing; retry") from None
            return winner
        return created

    def wrap(self, study_uid: str, data_key: bytes) -> WrappedKey:
        """Wrap ``data_key`` under the study's KEK (creating the KEK if needed)."""
        name = self.key_for(study_uid)
        try:
            return self.provider.wrap(name, data_key)
        except KeyUnavailableError:
            self._drop(study_uid)  # the study was deleted (by another process): start afresh
            return self.provider.wrap(self.key_for(study_uid), data_key)

    def _drop(self, study_uid: str) -> None:
        with self._lock:
            self._cache.pop(study_uid, None)

    def unusable(self, conn: sa.Connection, wrapped: Iterable[tuple[str, str]]) -> set[str]:
        """Of (study UID, key reference) pairs about to be committed, the study UIDs
        whose key is no longer the study's or no longer held (deleted or rotated meanwhile).

        Runs inside the committing transaction with the ``study_keys`` rows locked
        (``FOR SHARE`` on PostgreSQL; SQLite has one writer), so that a rotation
        cannot retire the version between this check and the commit.
        """
        pairs = list(wrapped)
        if not pairs:
            return set()
        uids = sorted({uid for uid, _ in pairs})
        rows = conn.execute(_KEYS_OF_STUDIES, {"uids": uids}).all()
        current = {row.StudyInstanceUID: row.key_name for row in rows}
        bad: set[str] = set()
        for uid, ref in pairs:
            name, _ = parse_key_ref(ref)
            if current.get(uid) != name or not self.provider.holds(ref):
                bad.add(uid)
                self._drop(uid)
        return bad

    def forget_study(self, conn: sa.Connection, study_uid: str) -> str | None:
        """In a delete's transaction: unlink the study from its KEK and queue the KEK
        for destruction. Returns the KEK's name (``None`` if the study had none)."""
        name = self._lookup(conn, study_uid)
        self._drop(study_uid)
        if name is None:
            return None
        conn.execute(study_keys.delete().where(study_keys.c.StudyInstanceUID == study_uid))
        conn.execute(shred_queue.insert().values(key_name=name, queued_at=datetime.now(UTC)))
        return name

    def shred_pending(self) -> int:
        """Destroy every queued KEK at the provider; returns how many were destroyed.

        A provider that is unreachable leaves the rest queued (logged) for next time.
        """
        with self.engine.connect() as conn:
            names = list(conn.execute(sa.select(shred_queue.c.key_name)).scalars())
        destroyed = 0
        for name in names:
            try:
                self.provider.destroy(name)
            except OutOfResourcesError:
                log.warning("key provider unavailable: %d key(s) stay queued for shredding",
                            len(names) - destroyed)
                break
            with write_transaction(self.engine) as conn:
                conn.execute(shred_queue.delete().where(shred_queue.c.key_name == name))
            destroyed += 1
        return destroyed

    def pending_shreds(self) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(shred_queue))
            return int(count.scalar_one())
