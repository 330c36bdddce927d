"""Which DICOM attributes the index holds, where, and what each level returns.

One catalogue serves the matching engine (:mod:`dicomvault.index.query`), the
result builder (:mod:`dicomvault.index.results`) and the doors' validation of
QIDO-RS parameters, so that "may I match on X at level Y" has one answer.

VRs are never typed here: they come from pydicom's data dictionary.

Levels are those of the Query/Retrieve information models (PS3.4 C.6.1 and
C.6.2): PATIENT, STUDY, SERIES and IMAGE (QIDO-RS "instances"). A query at one
level may match on the attributes of that level and of every level above it
(PS3.18 10.6.1.2, relational queries of PS3.4 C.4.1.2.2), because the index is
relational and a series row is joined to its study and patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydicom.datadict import dictionary_VM, dictionary_VR
from sqlalchemy import Column

from dicomvault.index.schema import instances, patients, series, studies


class QueryLevel(StrEnum):
    """Query/Retrieve level, spelt as in (0008,0052) QueryRetrieveLevel."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @property
    def depth(self) -> int:
        """0 for PATIENT down to 3 for IMAGE."""
        return _DEPTH[self]


_DEPTH = {QueryLevel.PATIENT: 0, QueryLevel.STUDY: 1, QueryLevel.SERIES: 2, QueryLevel.IMAGE: 3}

#: Returned by every level: everything stored is on line (PS3.18 Table 10.6.3-3).
INSTANCE_AVAILABILITY = "ONLINE"


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute the index knows.

    ``column`` is where its value is stored (``None`` for computed ones);
    ``match_column`` is what matching compares with (the case-folded column for
    person names); ``matchable`` says whether it may be a matching key.
    """

    keyword: str
    level: QueryLevel
    column: Column[object] | None
    match_column: Column[object] | None
    matchable: bool

    @property
    def vr(self) -> str:
        """The VR from the DICOM data dictionary."""
        return str(dictionary_VR(self.keyword))

    @property
    def multi_valued(self) -> bool:
        """True when the dictionary allows more than one value (VM other than 1)."""
        return str(dictionary_VM(self.keyword)) != "1"


def _stored(level: QueryLevel, column: Column[object], *, matchable: bool = True) -> Attribute:
    keyword = column.name
    norm = column.table.c.get(f"{keyword}_norm")
    match = norm if norm is not None else column
    return Attribute(keyword, level, column, match, matchable)


_P, _ST, _SE, _IM = QueryLevel.PATIENT, QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE

_CATALOGUE: tuple[Attribute, ...] = (
    *(
        _stored(_P, patients.c[name])
        for name in (
            "PatientID",
            "IssuerOfPatientID",
            "PatientName",
            "PatientBirthDate",
            "PatientSex",
        )
    ),
    *(
        _stored(_P, patients.c[name], matchable=False)
        for name in (
            "NumberOfPatientRelatedStudies",
            "NumberOfPatientRelatedSeries",
            "NumberOfPatientRelatedInstances",
        )
    ),
    *(
        _stored(_ST, studies.c[name])
        for name in (
            "StudyInstanceUID",
            "StudyDate",
            "StudyTime",
            "AccessionNumber",
            "StudyID",
            "StudyDescription",
            "ReferringPhysicianName",
            "InstitutionName",
            "ModalitiesInStudy",
        )
    ),
    *(
        _stored(_ST, studies.c[name], matchable=False)
        for name in (
            "TimezoneOffsetFromUTC",
            "SpecificCharacterSet",
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
        )
    ),
    Attribute("SOPClassesInStudy", _ST, None, None, matchable=True),
    Attribute("InstanceAvailability", _ST, None, None, matchable=False),
    *(
        _stored(_SE, series.c[name])
        for name in (
            "SeriesInstanceUID",
            "Modality",
            "SeriesNumber",
            "SeriesDescription",
            "BodyPartExamined",
            "PerformedProcedureStepStartDate",
            "PerformedProcedureStepStartTime",
            "ScheduledProcedureStepID",
            "RequestedProcedureID",
        )
    ),
    _stored(_SE, series.c.NumberOfSeriesRelatedInstances, matchable=False),
    Attribute("RequestAttributesSequence", _SE, None, None, matchable=False),
    *(
        _stored(_IM, instances.c[name])
        for name in (
            "SOPInstanceUID",
            "SOPClassUID",
            "InstanceNumber",
            "Rows",
            "Columns",
            "BitsAllocated",
            "NumberOfFrames",
        )
    ),
)

ATTRIBUTES: dict[str, Attribute] = {attribute.keyword: attribute for attribute in _CATALOGUE}

#: Leaves of RequestAttributesSequence that are stored flat on the series row.
REQUEST_ATTRIBUTES = ("ScheduledProcedureStepID", "RequestedProcedureID")

#: Attributes returned by default, PS3.18 Tables 10.6.3-3 (study), -4 (series),
#: -5 (instance); the patient level follows PS3.4 C.6.1.1.2 (Patient Root).
DEFAULT_RETURN: dict[QueryLevel, tuple[str, ...]] = {
    _P: (
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedSeries",
        "NumberOfPatientRelatedInstances",
    ),
    _ST: (
        "SpecificCharacterSet",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "InstanceAvailability",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "TimezoneOffsetFromUTC",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    _SE: (
        "SpecificCharacterSet",
        "Modality",
        "TimezoneOffsetFromUTC",
        "SeriesDescription",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "RequestAttributesSequence",
    ),
    _IM: (
        "SpecificCharacterSet",
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceAvailability",
        "TimezoneOffsetFromUTC",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}

#: The unique key of each level (PS3.4 C.6.1.1 / C.6.2.1), always returned.
UNIQUE_KEY: dict[QueryLevel, str] = {
    _P: "PatientID",
    _ST: "StudyInstanceUID",
    _SE: "SeriesInstanceUID",
    _IM: "SOPInstanceUID",
}


def visible_at(level: QueryLevel) -> list[Attribute]:
    """Attributes a query at ``level`` may match on or return: its own and its parents'."""
    return [a for a in _CATALOGUE if a.level.depth <= level.depth]
