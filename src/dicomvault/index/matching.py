"""Attribute matching (PS3.4 C.2.2.2) translated into SQL conditions.

The rules, by kind of attribute (the kind comes from the VR in pydicom's
dictionary):

* Empty value, or a value that is only ``*``: universal matching
  (C.2.2.2.3) - no condition at all.
* ``UI``: single value or list of UID matching (C.2.2.2.2), values separated
  by ``\\`` (DIMSE) or ``,`` (QIDO-RS, PS3.18 8.3.4.1). Wildcards are refused.
* ``DA`` / ``TM``: single value, or range matching ``A-B``, ``A-``, ``-B``
  (C.2.2.2.5). Values are compared as strings, which is chronological for
  the DICOM formats. A ``TM`` upper bound includes every time that starts
  with it, so ``-12`` includes ``1230`` (the bound names the whole hour). A
  range never matches an empty value. When both StudyDate and StudyTime are
  ranges they are combined into one date-time range (C.2.2.2.5.2), see
  :func:`combined_date_time`.
* ``IS`` / ``US``: single value matching on the integer.
* Other string VRs: single value matching, or wildcard matching (C.2.2.2.4)
  when the value holds ``*`` (any run of characters, including none) or
  ``?`` (exactly one character). It becomes SQL ``LIKE`` with ``!`` as the
  escape character, so ``%``, ``_`` and ``!`` in the value match literally.
* ``PN``: as other strings, but against the ``*_norm`` column and the
  case-folded value (:func:`normalize_person_name`): person names match
  case-insensitively, trailing empty components are ignored, and a query
  without ``=`` matches the first (alphabetic) component group.
  With fuzzy matching (PS3.18 8.3.4.5) a name also matches when every
  non-empty ``^``-separated component of the query is a prefix of some
  component of the stored name: ``adams`` matches ``ADAMS^JOHN`` and
  ``JOHN^ADAMS``; ``jo^ad`` matches ``ADAMS^JOHN``. Wildcards keep their
  meaning inside a component.
* ``ModalitiesInStudy``: the study has a series whose Modality matches one of
  the values (separated by ``\\`` or ``,``; wildcards allowed).
* ``SOPClassesInStudy``: the study has an instance of one of the SOP classes.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, exists, false, or_, select

from dicomvault.errors import InvalidInputError
from dicomvault.index.attributes import Attribute
from dicomvault.index.schema import instances, series, studies

#: The LIKE escape character; any character works as long as it is escaped too.
LIKE_ESCAPE = "!"

_LIKE_TRANSLATION = str.maketrans({"*": "%", "?": "_", "%": "!%", "_": "!_", "!": "!!"})
_DA = re.compile(r"\d{8}")
_TM = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
_INTEGER = re.compile(r"[+-]?\d{1,10}")


def normalize_person_name(value: str) -> str:
    """Case-fold a PN value and drop trailing empty components and groups.

    The writer stores this in the ``*_norm`` columns and matching applies it to
    the query value, so ``Doe^John^^`` and ``DOE^JOHN`` compare equal.
    """
    groups = [group.rstrip("^ ") for group in value.casefold().split("=")]
    return "=".join(groups).rstrip("=")


def has_wildcards(value: str) -> bool:
    """True if ``value`` asks for wildcard matching (PS3.4 C.2.2.2.4)."""
    return "*" in value or "?" in value


def like_pattern(value: str) -> str:
    """Translate a DICOM wildcard value into a LIKE pattern escaped with ``!``."""
    return value.translate(_LIKE_TRANSLATION)


def is_universal(value: str) -> bool:
    """True for an empty value or ``*`` alone: universal matching (PS3.4 C.2.2.2.3)."""
    return value.strip() in {"", "*"}


def split_list(value: str) -> list[str]:
    """Split a list of values at ``\\`` (DIMSE) and ``,`` (QIDO-RS); drop empty ones."""
    return [item.strip() for item in re.split(r"[\\,]", value) if item.strip()]


def condition(
    attribute: Attribute, value: str, *, fuzzy: bool = False
) -> ColumnElement[bool] | None:
    """The SQL condition for matching ``attribute`` against ``value``; ``None`` if universal."""
    value = value.strip()
    if is_universal(value):
        return None
    if attribute.keyword == "ModalitiesInStudy":
        return _modalities_in_study(value)
    if attribute.keyword == "SOPClassesInStudy":
        return _sop_classes_in_study(value)
    column = attribute.match_column
    assert column is not None, attribute.keyword  # every other matchable attribute is stored
    vr = attribute.vr
    if vr == "UI":
        return _uid_list(column, value, attribute.keyword)
    if vr in {"DA", "TM"}:
        return _date_or_time(column, value, vr, attribute.keyword)
    if vr in {"IS", "US"}:
        return column == _integer(value, attribute.keyword)
    if vr == "PN":
        return _person_name(column, value, fuzzy=fuzzy)
    return _string(column, value)


def _string(column: ColumnElement[object], value: str) -> ColumnElement[bool]:
    if has_wildcards(value):
        return column.like(like_pattern(value), escape=LIKE_ESCAPE)
    return column == value


def _person_name(column: ColumnElement[object], value: str, *, fuzzy: bool) -> ColumnElement[bool]:
    query = normalize_person_name(value)
    exact = _string(column, query)
    if "=" not in query and not like_pattern(query).endswith("%"):
        # A one-group query also matches names that carry ideographic/phonetic groups.
        exact = or_(exact, column.like(like_pattern(query) + "=%", escape=LIKE_ESCAPE))
    if not fuzzy:
        return exact
    components = [c for c in query.split("=")[0].split("^") if c]
    if not components:
        return exact
    prefixes = []
    for component in components:
        pattern = like_pattern(component) + "%"
        prefixes.append(
            or_(
                column.like(pattern, escape=LIKE_ESCAPE),
                column.like("%^" + pattern, escape=LIKE_ESCAPE),
                column.like("%=" + pattern, escape=LIKE_ESCAPE),
            )
        )
    return or_(exact, and_(*prefixes))


def _uid_list(column: ColumnElement[object], value: str, keyword: str) -> ColumnElement[bool]:
    if has_wildcards(value):
        raise InvalidInputError(f"wildcards are not allowed in {keyword} (UID) matching")
    uids = split_list(value)
    if not uids:
        raise InvalidInputError(f"{keyword} matching needs at least one UID")
    return column == uids[0] if len(uids) == 1 else column.in_(uids)


def _integer(value: str, keyword: str) -> int:
    if not _INTEGER.fullmatch(value) or not -(2**31) <= int(value) < 2**31:
        raise InvalidInputError(f"{keyword} matching needs a single integer value (IS)")
    return int(value)


def _check_bound(bound: str, vr: str, keyword: str) -> None:
    pattern = _DA if vr == "DA" else _TM
    if not pattern.fullmatch(bound):
        raise InvalidInputError(
            f"{keyword} value is not a valid {vr} value or range (PS3.4 C.2.2.2.5)"
        )


def _parse_range(value: str, vr: str, keyword: str) -> tuple[str, str] | None:
    """Return the bounds of a range value ("" when open), ``None`` for a single value."""
    if value.count("-") > 1:
        raise InvalidInputError(f"{keyword} range has more than one '-'")
    if "-" not in value:
        _check_bound(value, vr, keyword)
        return None
    lower, upper = (part.strip() for part in value.split("-"))
    for bound in (lower, upper):
        if bound:
            _check_bound(bound, vr, keyword)
    if not lower and not upper:
        raise InvalidInputError(f"{keyword} range needs at least one bound")
    return lower, upper


def _upper_bound(column: ColumnElement[object], upper: str, vr: str) -> ColumnElement[bool]:
    if vr == "TM":
        return or_(column <= upper, column.like(like_pattern(upper) + "%", escape=LIKE_ESCAPE))
    return column <= upper


def _date_or_time(
    column: ColumnElement[object], value: str, vr: str, keyword: str
) -> ColumnElement[bool]:
    bounds = _parse_range(value, vr, keyword)
    if bounds is None:
        return column == value
    lower, upper = bounds
    conditions = [column != ""]
    if lower:
        conditions.append(column >= lower)
    if upper:
        conditions.append(_upper_bound(column, upper, vr))
    return and_(*conditions)


def is_range(value: str) -> bool:
    """True if a DA/TM value is a range (holds ``-``)."""
    return "-" in value


def combined_date_time(date_value: str, time_value: str) -> ColumnElement[bool]:
    """StudyDate and StudyTime ranges as one date-time range (PS3.4 C.2.2.2.5.2).

    ``StudyDate=20200101-20200105`` with ``StudyTime=1000-1200`` matches from
    2020-01-01 10:00 up to 2020-01-05 12:00 (inclusive), not "10:00 to 12:00
    on each day".
    """
    dates = _parse_range(date_value.strip(), "DA", "StudyDate")
    times = _parse_range(time_value.strip(), "TM", "StudyTime")
    if dates is None or times is None:
        raise ValueError("combined date-time matching needs two ranges")
    date, time = studies.c.StudyDate, studies.c.StudyTime
    (date_low, date_high), (time_low, time_high) = dates, times
    conditions = [date != ""]
    if date_low:
        on_first_day = date == date_low
        if time_low:
            on_first_day = and_(on_first_day, time >= time_low)
        conditions.append(or_(date > date_low, on_first_day))
    if date_high:
        on_last_day = date == date_high
        if time_high:
            on_last_day = and_(on_last_day, _upper_bound(time, time_high, "TM"))
        conditions.append(or_(date < date_high, on_last_day))
    return and_(*conditions)


def _modalities_in_study(value: str) -> ColumnElement[bool]:
    modalities = split_list(value)
    if not modalities:
        return false()
    matches = [_string(series.c.Modality, modality) for modality in modalities]
    return exists(select(series.c.pk).where(series.c.study_pk == studies.c.pk, or_(*matches)))


def _sop_classes_in_study(value: str) -> ColumnElement[bool]:
    classes = split_list(value)
    if has_wildcards(value):
        raise InvalidInputError("wildcards are not allowed in SOPClassesInStudy matching")
    return exists(
        select(instances.c.pk)
        .join(series, series.c.pk == instances.c.series_pk)
        .where(series.c.study_pk == studies.c.pk, instances.c.SOPClassUID.in_(classes))
    )
