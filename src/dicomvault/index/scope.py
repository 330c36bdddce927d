"""Per-study scope: which studies a principal may see, as a condition of the one engine.

A :class:`StudyScope` limits a principal to studies of given institutions
(InstitutionName, 0008,0080), departments (InstitutionalDepartmentName,
0008,1040) and/or referring physicians (ReferringPhysicianName, 0008,0090).
An empty set does not restrict that dimension; a study is in scope when its
value is in every non-empty set. Institution and department compare
case-insensitively (free text typed at the modality), referring physicians
on their case-folded PN as PN matching does everywhere in the index.

QIDO-RS and C-FIND get the condition added to their query (so out-of-scope
studies are never returned nor counted); WADO-RS, C-MOVE and C-GET check the
study with :func:`study_in_scope` and refuse it otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, exists, func, select, true
from sqlalchemy.engine import Connection

from dicomvault.index.matching import normalize_person_name
from dicomvault.index.schema import studies


def _clean(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip() for v in values if v and v.strip())


@dataclass(frozen=True, slots=True)
class StudyScope:
    institutions: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    referring_physicians: frozenset[str] = frozenset()

    @classmethod
    def of(cls, institutions: Iterable[str] = (), departments: Iterable[str] = (),
           referring_physicians: Iterable[str] = ()) -> StudyScope:
        return cls(_clean(institutions), _clean(departments), _clean(referring_physicians))

    @classmethod
    def from_dict(cls, value: Mapping[str, Iterable[str]] | None) -> StudyScope:
        value = value or {}
        unknown = set(value) - {"institutions", "departments", "referring_physicians"}
        if unknown:
            raise ValueError(f"unknown scope keys: {', '.join(sorted(unknown))}")
        return cls.of(value.get("institutions", ()), value.get("departments", ()),
                      value.get("referring_physicians", ()))

    def to_dict(self) -> dict[str, list[str]]:
        return {"institutions": sorted(self.institutions),
                "departments": sorted(self.departments),
                "referring_physicians": sorted(self.referring_physicians)}

    @property
    def unrestricted(self) -> bool:
        return not (self.institutions or self.departments or self.referring_physicians)

    def allows(self, institution: str, department: str, referring_physician: str) -> bool:
        """The same test as :meth:`condition`, on attributes of a study being stored."""
        def within(allowed: frozenset[str], value: str, fold: Callable[[str], str]) -> bool:
            return not allowed or fold(value.strip()) in {fold(a) for a in allowed}

        return (within(self.institutions, institution, str.lower)
                and within(self.departments, department, str.lower)
                and within(self.referring_physicians, referring_physician,
                           normalize_person_name))

    def condition(self) -> ColumnElement[bool]:
        """SQL condition on the ``studies`` table that holds for studies in scope."""
        parts: list[ColumnElement[bool]] = []
        if self.institutions:
            parts.append(func.lower(studies.c.InstitutionName).in_(
                sorted(v.lower() for v in self.institutions)))
        if self.departments:
            parts.append(func.lower(studies.c.InstitutionalDepartmentName).in_(
                sorted(v.lower() for v in self.departments)))
        if self.referring_physicians:
            parts.append(studies.c.ReferringPhysicianName_norm.in_(
                sorted(normalize_person_name(v) for v in self.referring_physicians)))
        return and_(true(), *parts)

    def patient_condition(self, patient_pk: ColumnElement[int]) -> ColumnElement[bool]:
        """Patients with at least one study in scope (for patient-level C-FIND)."""
        return exists(select(studies.c.pk).where(studies.c.patient_pk == patient_pk,
                                                 self.condition()))


def study_in_scope(conn: Connection, study_uid: str, scope: StudyScope) -> bool | None:
    """Whether an indexed study is in ``scope``; ``None`` if the study is not indexed."""
    visible = case((scope.condition(), 1), else_=0).label("visible")
    row = conn.execute(
        select(studies.c.pk, visible).where(studies.c.StudyInstanceUID == study_uid)
    ).first()
    return None if row is None else bool(row.visible)
