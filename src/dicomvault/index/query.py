"""The one matching engine behind QIDO-RS and C-FIND.

A :class:`Query` is built from QIDO-RS parameters (PS3.18 8.3.4, 10.6.1) by
:meth:`Query.from_qido_params` or from a C-FIND identifier (PS3.4 C.4.1) by
:meth:`Query.from_identifier`; :func:`run_query` and :func:`count_query`
answer it with SQLAlchemy Core against the index. Matching rules are in
:mod:`dicomvault.index.matching`, what is stored where in
:mod:`dicomvault.index.attributes`.

Results come in a stable order so that ``limit``/``offset`` pages neither
repeat nor skip: studies newest first (StudyDate, StudyTime descending, then
newest row), series by SeriesNumber, instances by InstanceNumber (numbers
missing last), each then by row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlalchemy import Column, ColumnElement, FromClause, Label, Select, func, select
from sqlalchemy.engine import Connection

from dicomvault.errors import InvalidInputError
from dicomvault.index import matching
from dicomvault.index.attributes import (
    ATTRIBUTES,
    DEFAULT_RETURN,
    INSTANCE_AVAILABILITY,
    REQUEST_ATTRIBUTES,
    UNIQUE_KEY,
    QueryLevel,
    visible_at,
)
from dicomvault.index.results import ResultRow
from dicomvault.index.schema import instances, patients, series, studies
from dicomvault.index.scope import StudyScope

__all__ = ["Query", "QueryLevel", "count_query", "run_query"]

_TABLES = {
    QueryLevel.PATIENT: patients,
    QueryLevel.STUDY: studies,
    QueryLevel.SERIES: series,
    QueryLevel.IMAGE: instances,
}
_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_REQUEST_SEQUENCE = "RequestAttributesSequence"
# Identifier elements that steer the query rather than match (PS3.4 C.4.1.1.3).
_CONTROL_KEYWORDS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet"})


def _keyword(name: str) -> str:
    """A keyword or an 8-hex-digit tag, as keyword; unknown -> InvalidInputError."""
    if _TAG.fullmatch(name):
        keyword = keyword_for_tag(int(name, 16))
        if keyword:
            return str(keyword)
    elif tag_for_keyword(name) is not None:
        return name
    raise InvalidInputError(f"unknown attribute {name!r} (neither a DICOM keyword nor a tag)")


def _attribute_path(name: str) -> str:
    """A dotted path of keywords/tags (PS3.18 8.3.4.1) with every step as keyword."""
    return ".".join(_keyword(step) for step in name.split("."))


def _matching_keyword(path: str) -> str:
    """Map a matching key's path to the catalogue keyword it is stored under."""
    first, _, rest = path.partition(".")
    if first == _REQUEST_SEQUENCE and rest in REQUEST_ATTRIBUTES:
        return rest
    return path


def _parse_positive(name: str, value: str, *, minimum: int) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise InvalidInputError(f"{name} must be an integer of at least {minimum}")
    return int(value)


@dataclass
class Query:
    """What to find and what to return.

    ``filters`` maps a DICOM keyword to the value as received (``"DOE^J*"``,
    ``"20200101-20201231"``, ``"1.2.3\\1.2.4"``). ``include_fields`` are extra
    keywords (or dotted sequence paths) to return; ``include_all`` returns
    every attribute the index holds at the level. ``return_keys_only`` is the
    C-FIND contract (PS3.4 C.4.1.1.3.2): return exactly the identifier's keys,
    those the index does not hold with zero length, instead of the QIDO-RS
    defaults (PS3.18 Tables 10.6.3-3 to -5). ``study_uid`` / ``series_uid``
    scope the query as the QIDO-RS paths ``/studies/{uid}/series`` do.
    """

    level: QueryLevel
    filters: dict[str, str] = field(default_factory=dict)
    include_fields: frozenset[str] = frozenset()
    include_all: bool = False
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0
    study_uid: str | None = None
    series_uid: str | None = None
    return_keys_only: bool = False

    def __post_init__(self) -> None:
        visible = {attribute.keyword for attribute in visible_at(self.level)}
        for keyword in self.filters:
            attribute = ATTRIBUTES.get(keyword)
            if attribute is None or not attribute.matchable:
                raise InvalidInputError(f"matching on {keyword} is not supported")
            if keyword not in visible:
                raise InvalidInputError(
                    f"{keyword} is not an attribute of the {self.level} level or above"
                )
        if self.limit is not None and self.limit < 1:
            raise InvalidInputError("limit must be at least 1")
        if self.offset < 0:
            raise InvalidInputError("offset must not be negative")

    def with_limit(self, limit: int | None) -> Query:
        """A copy of this query with another ``limit`` (a door capping unlimited searches)."""
        return replace(self, limit=limit)

    @classmethod
    def from_qido_params(
        cls,
        level: QueryLevel,
        params: Sequence[tuple[str, str]],
        study_uid: str | None = None,
        series_uid: str | None = None,
    ) -> Query:
        """Parse QIDO-RS query parameters (PS3.18 8.3.4 and 10.6.1.2)."""
        filters: dict[str, str] = {}
        includes: set[str] = set()
        include_all = fuzzy = False
        limit: int | None = None
        offset = 0
        for name, value in params:
            lowered = name.lower()
            if lowered == "includefield":
                for item in filter(None, (part.strip() for part in value.split(","))):
                    if item.lower() == "all":
                        include_all = True
                    else:
                        includes.add(_attribute_path(item))
            elif lowered == "fuzzymatching":
                if value.lower() not in {"true", "false"}:
                    raise InvalidInputError("fuzzymatching must be true or false")
                fuzzy = value.lower() == "true"
            elif lowered == "limit":
                limit = _parse_positive("limit", value, minimum=1)
            elif lowered == "offset":
                offset = _parse_positive("offset", value, minimum=0)
            else:
                keyword = _matching_keyword(_attribute_path(name))
                if keyword in filters:
                    raise InvalidInputError(f"{keyword} is given more than once")
                filters[keyword] = value
        return cls(
            level=level,
            filters=filters,
            include_fields=frozenset(includes),
            include_all=include_all,
            fuzzy=fuzzy,
            limit=limit,
            offset=offset,
            study_uid=study_uid,
            series_uid=series_uid,
        )

    @classmethod
    def from_identifier(cls, level: QueryLevel, dataset: Dataset) -> Query:
        """Build a query from a C-FIND request identifier (PS3.4 C.4.1.1.3).

        Non-empty elements are matching keys, empty ones return keys; every key
        is returned. Keys the index cannot match on are returned with zero length
        and otherwise ignored, as PS3.4 C.2.2.1 lets an SCP do with optional keys.
        """
        matchable = {a.keyword for a in visible_at(level) if a.matchable}
        filters: dict[str, str] = {}
        returned: set[str] = set()
        for element in dataset:
            keyword = element.keyword
            if not keyword or keyword in _CONTROL_KEYWORDS:
                continue
            returned.add(keyword)
            if element.VR == "SQ":
                if keyword == _REQUEST_SEQUENCE:
                    for item in element.value:
                        for leaf in item:
                            if leaf.keyword in REQUEST_ATTRIBUTES and not leaf.is_empty:
                                filters[leaf.keyword] = _identifier_value(leaf)
                continue
            if keyword in matchable and not element.is_empty:
                filters[keyword] = _identifier_value(element)
        return cls(
            level=level, filters=filters, include_fields=frozenset(returned), return_keys_only=True
        )


def _identifier_value(element: DataElement) -> str:
    value = element.value
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)
    return str(value)


def _returned(query: Query) -> tuple[str, ...]:
    """The keywords the response carries, in a stable order."""
    level = query.level
    wanted: list[str] = [UNIQUE_KEY[level]]
    if query.return_keys_only:
        if level.depth >= QueryLevel.STUDY.depth:
            wanted.append("SpecificCharacterSet")
        wanted.extend(sorted(query.include_fields))
        return tuple(dict.fromkeys(wanted))
    if level.depth >= QueryLevel.SERIES.depth and query.study_uid is None:
        wanted.extend(DEFAULT_RETURN[QueryLevel.STUDY])
    if level is QueryLevel.IMAGE and query.series_uid is None:
        wanted.extend(DEFAULT_RETURN[QueryLevel.SERIES])
    wanted.extend(DEFAULT_RETURN[level])
    visible = {a.keyword for a in visible_at(level)}
    for path in sorted(query.include_fields):
        keyword = path.partition(".")[0]
        if keyword in visible:
            wanted.append(keyword)
    if query.include_all:
        wanted.extend(a.keyword for a in visible_at(level))
    # Matching keys are returned too (PS3.18 10.6.3.3); stored leaves travel in their sequence.
    wanted.extend(_REQUEST_SEQUENCE if k in REQUEST_ATTRIBUTES else k for k in query.filters)
    return tuple(k for k in dict.fromkeys(wanted) if k not in REQUEST_ATTRIBUTES)


@functools.lru_cache(maxsize=256)
def _selected(returned: tuple[str, ...]) -> tuple[frozenset[QueryLevel], tuple[Label[Any], ...]]:
    """The levels whose tables the returned attributes need, and their labelled columns.

    Worked out once per set of returned attributes (bounded: ``includefield`` lets
    clients vary it): building them anew was a third of a one-result search's query.
    """
    columns = _columns(returned)
    levels = frozenset(ATTRIBUTES[k].level for k in columns if k in ATTRIBUTES)
    return levels, tuple(column.label(keyword) for keyword, column in columns.items())


def _columns(returned: Iterable[str]) -> dict[str, Column[Any]]:
    """Stored columns needed to build the returned attributes, by keyword."""
    columns: dict[str, Column[Any]] = {}
    for keyword in returned:
        if keyword == _REQUEST_SEQUENCE:
            columns.update({leaf: series.c[leaf] for leaf in REQUEST_ATTRIBUTES})
            continue
        attribute = ATTRIBUTES.get(keyword)
        if attribute is not None and attribute.column is not None:
            columns[keyword] = attribute.column
    return columns


@functools.cache
def _from_clause(level: QueryLevel, top: QueryLevel) -> FromClause:
    """The level's table joined upwards to the ``top`` level's table."""
    clause: FromClause = _TABLES[level]
    if level.depth > QueryLevel.SERIES.depth >= top.depth:
        clause = clause.join(series, series.c.pk == instances.c.series_pk)
    if level.depth > QueryLevel.STUDY.depth >= top.depth:
        clause = clause.join(studies, studies.c.pk == series.c.study_pk)
    if level.depth > QueryLevel.PATIENT.depth >= top.depth:
        clause = clause.join(patients, patients.c.pk == studies.c.patient_pk)
    return clause


def _conditions(query: Query) -> tuple[list[ColumnElement[bool]], set[QueryLevel]]:
    """WHERE conditions of ``query`` and the levels whose tables they need."""
    conditions: list[ColumnElement[bool]] = []
    levels: set[QueryLevel] = set()
    filters = dict(query.filters)
    date, time = filters.get("StudyDate", ""), filters.get("StudyTime", "")
    if matching.is_range(date) and matching.is_range(time):
        conditions.append(matching.combined_date_time(date, time))
        levels.add(QueryLevel.STUDY)
        del filters["StudyDate"], filters["StudyTime"]
    for keyword, value in filters.items():
        attribute = ATTRIBUTES[keyword]
        condition = matching.condition(attribute, value, fuzzy=query.fuzzy)
        if condition is not None:
            conditions.append(condition)
            levels.add(attribute.level)
    if query.study_uid is not None and query.level.depth >= QueryLevel.SERIES.depth:
        conditions.append(studies.c.StudyInstanceUID == query.study_uid)
        levels.add(QueryLevel.STUDY)
    if query.series_uid is not None and query.level is QueryLevel.IMAGE:
        conditions.append(series.c.SeriesInstanceUID == query.series_uid)
        levels.add(QueryLevel.SERIES)
    return conditions, levels


_ORDER_BY: dict[QueryLevel, tuple[ColumnElement[Any], ...]] = {
    QueryLevel.STUDY: (studies.c.StudyDate.desc(), studies.c.StudyTime.desc(),
                       studies.c.pk.desc()),
    QueryLevel.SERIES: (series.c.SeriesNumber.asc().nulls_last(), series.c.pk.asc()),
    QueryLevel.IMAGE: (instances.c.InstanceNumber.asc().nulls_last(), instances.c.pk.asc()),
    QueryLevel.PATIENT: (patients.c.PatientID.asc(), patients.c.pk.asc()),
}


def _filtered(query: Query, returned: tuple[str, ...],
              scope: StudyScope | None = None) -> Select[Any]:
    conditions, levels = _conditions(query)
    if scope is not None and not scope.unrestricted:
        # Access scope (index/scope.py): out-of-scope studies are neither returned nor counted.
        if query.level is QueryLevel.PATIENT:
            conditions.append(scope.patient_condition(patients.c.pk))
        else:
            conditions.append(scope.condition())
            levels.add(QueryLevel.STUDY)
    column_levels, labelled = _selected(returned)
    levels.update(column_levels)
    top = min(levels | {query.level}, key=lambda lvl: lvl.depth)
    base = _TABLES[query.level]
    statement = select(base.c.pk.label("_pk"), *labelled).select_from(
        _from_clause(query.level, top)
    )
    return statement.where(*conditions)


def run_query(conn: Connection, query: Query, scope: StudyScope | None = None) -> list[ResultRow]:
    """The matches of ``query`` within ``scope``, one :class:`ResultRow` each, honouring
    limit/offset."""
    returned = _returned(query)
    statement = _filtered(query, returned, scope).order_by(*_ORDER_BY[query.level])
    if query.limit is not None:
        statement = statement.limit(query.limit)
    if query.offset:
        statement = statement.offset(query.offset)
    result = conn.execute(statement)
    keys = list(result.keys())
    # Plain tuples zipped with the labels: SQLAlchemy's per-row mappings cost more than
    # the query itself when a search returns a hundred rows.
    found: list[dict[str, Any]] = [dict(zip(keys, row, strict=True)) for row in result.all()]
    sop_classes = (
        _sop_classes_in_studies(conn, [values["_pk"] for values in found])
        if "SOPClassesInStudy" in returned and query.level is QueryLevel.STUDY
        else {}
    )
    availability = "InstanceAvailability" in returned
    results = []
    for values in found:
        pk = values.pop("_pk")
        if availability:
            values["InstanceAvailability"] = INSTANCE_AVAILABILITY
        if pk in sop_classes:
            values["SOPClassesInStudy"] = sop_classes[pk]
        results.append(ResultRow(query.level, values, returned))
    return results


def count_query(conn: Connection, query: Query, scope: StudyScope | None = None) -> int:
    """How many entities match ``query`` within ``scope``, ignoring limit and offset."""
    subquery = _filtered(query, (), scope).subquery()
    return int(conn.execute(select(func.count()).select_from(subquery)).scalar_one())


def _sop_classes_in_studies(conn: Connection, study_pks: list[int]) -> dict[int, str]:
    """SOPClassesInStudy of each study: its distinct SOP classes, sorted, ``\\``-joined."""
    if not study_pks:
        return {}
    statement = (
        select(series.c.study_pk, instances.c.SOPClassUID)
        .distinct()
        .select_from(instances.join(series, series.c.pk == instances.c.series_pk))
        .where(series.c.study_pk.in_(study_pks))
    )
    found: dict[int, list[str]] = {}
    for study_pk, sop_class in conn.execute(statement):
        found.setdefault(study_pk, []).append(sop_class)
    return {pk: "\\".join(sorted(classes)) for pk, classes in found.items()}
