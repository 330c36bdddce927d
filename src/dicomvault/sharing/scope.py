"""Which archived studies an agreement's scope covers, evaluated now, by the one engine.

Evaluated on every partner request (never cached), so that a study stored
after the grant that matches a saved-query scope is visible at once, and a
study deleted since is gone. Every kind becomes a :class:`~dicomvault.index.Query`
answered by :func:`~dicomvault.index.run_query`, the matching engine QIDO-RS
and C-FIND use.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from dicomvault.index import Query, QueryLevel, ResultRow, run_query
from dicomvault.sharing.agreement import ScopeKind, ShareScope


def _uids(rows: Iterable[ResultRow], keyword: str) -> set[str]:
    return {str(value) for row in rows if (value := row.get(keyword))}


def validate_scope(scope: ShareScope) -> None:
    """Refuse (InvalidInputError) a saved query the matching engine would not run."""
    if scope.kind is ScopeKind.QUERY and scope.query is not None:
        Query.from_qido_params(QueryLevel.STUDY, list(scope.query.items()))


def studies_in_scope(conn: sa.Connection, scope: ShareScope) -> set[str]:
    """Study Instance UIDs the scope covers right now."""
    if scope.kind is ScopeKind.QUERY:
        assert scope.query is not None
        query = Query.from_qido_params(QueryLevel.STUDY, list(scope.query.items()))
        return _uids(run_query(conn, query), "StudyInstanceUID")
    if scope.kind is ScopeKind.STUDY:
        query = Query(level=QueryLevel.STUDY,
                      filters={"StudyInstanceUID": "\\".join(scope.values)})
        return _uids(run_query(conn, query), "StudyInstanceUID")
    if scope.kind is ScopeKind.SERIES:
        query = Query(level=QueryLevel.SERIES,
                      filters={"SeriesInstanceUID": "\\".join(scope.values)})
        return _uids(run_query(conn, query), "StudyInstanceUID")
    found: set[str] = set()
    for patient_id in scope.values:  # PatientID matching is single-valued
        query = Query(level=QueryLevel.STUDY, filters={"PatientID": patient_id})
        found |= _uids(run_query(conn, query), "StudyInstanceUID")
    return found


def series_allowed(scope: ShareScope, series_uid: str | None) -> bool:
    """A series scope shares only its series; the other kinds share whole studies."""
    if scope.kind is not ScopeKind.SERIES:
        return True
    return series_uid in scope.values
