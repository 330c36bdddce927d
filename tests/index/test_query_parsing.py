"""Building a Query from QIDO-RS parameters and from a C-FIND identifier."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from dicomvault.errors import InvalidInputError
from dicomvault.index import Query, QueryLevel


def test_keywords_and_tags_become_filters() -> None:
    query = Query.from_qido_params(
        QueryLevel.STUDY,
        [
            ("PatientName", "DOE^J*"),
            ("00080020", "20200101-20201231"),
            ("limit", "10"),
            ("offset", "20"),
            ("fuzzymatching", "true"),
        ],
    )
    assert query.filters == {"PatientName": "DOE^J*", "StudyDate": "20200101-20201231"}
    assert (query.limit, query.offset, query.fuzzy) == (10, 20, True)
    assert query.with_limit(5).limit == 5 and query.limit == 10


def test_includefield_repeated_comma_separated_tags_paths_and_all() -> None:
    query = Query.from_qido_params(
        QueryLevel.SERIES,
        [
            ("includefield", "StudyDescription,00081030"),
            ("includefield", "00180015"),
            ("includefield", "RequestAttributesSequence.00400009"),
        ],
        study_uid="1.2.3",
    )
    assert query.include_fields == frozenset(
        {
            "StudyDescription",
            "BodyPartExamined",
            "RequestAttributesSequence.ScheduledProcedureStepID",
        }
    )
    assert not query.include_all
    assert Query.from_qido_params(QueryLevel.STUDY, [("includefield", "all")]).include_all
    assert query.study_uid == "1.2.3"


def test_sequence_path_matching_keys_map_to_their_stored_leaf() -> None:
    query = Query.from_qido_params(
        QueryLevel.SERIES, [("RequestAttributesSequence.RequestedProcedureID", "RP1")]
    )
    assert query.filters == {"RequestedProcedureID": "RP1"}


@pytest.mark.parametrize(
    ("level", "params", "message"),
    [
        (QueryLevel.STUDY, [("PatientNme", "X")], "unknown attribute"),
        (QueryLevel.STUDY, [("7FE10010", "X")], "unknown attribute"),
        (QueryLevel.STUDY, [("includefield", "NoSuchThing")], "unknown attribute"),
        (QueryLevel.STUDY, [("SOPInstanceUID", "1.2")], "STUDY level or above"),
        (QueryLevel.SERIES, [("InstanceNumber", "1")], "SERIES level or above"),
        (QueryLevel.STUDY, [("NumberOfStudyRelatedSeries", "2")], "not supported"),
        (QueryLevel.STUDY, [("PatientAge", "030Y")], "not supported"),
        (QueryLevel.STUDY, [("limit", "0")], "limit"),
        (QueryLevel.STUDY, [("limit", "-3")], "limit"),
        (QueryLevel.STUDY, [("offset", "x")], "offset"),
        (QueryLevel.STUDY, [("fuzzymatching", "yes")], "fuzzymatching"),
        (QueryLevel.STUDY, [("PatientID", "A"), ("00100020", "B")], "more than once"),
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(
    level: QueryLevel, params: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        Query.from_qido_params(level, params)
    assert caught.value.http_status == 400


def test_identifier_values_match_and_empty_elements_are_return_keys() -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.SpecificCharacterSet = "ISO_IR 100"
    identifier.PatientName = "DOE^*"
    identifier.StudyDate = "20200101-"
    identifier.ModalitiesInStudy = ["CT", "MR"]
    identifier.StudyInstanceUID = ""
    identifier.PatientAge = ""  # not held by the index: returned empty
    identifier.OtherPatientIDs = "X"  # cannot be matched here: ignored, returned empty
    query = Query.from_identifier(QueryLevel.STUDY, identifier)
    assert query.filters == {
        "PatientName": "DOE^*",
        "StudyDate": "20200101-",
        "ModalitiesInStudy": "CT\\MR",
    }
    assert query.include_fields == frozenset(
        {
            "PatientName",
            "StudyDate",
            "ModalitiesInStudy",
            "StudyInstanceUID",
            "PatientAge",
            "OtherPatientIDs",
        }
    )
    assert query.return_keys_only


def test_identifier_request_attributes_sequence_items_are_matching_keys() -> None:
    item = Dataset()
    item.ScheduledProcedureStepID = "SPS1"
    item.RequestedProcedureID = ""
    identifier = Dataset()
    identifier.RequestAttributesSequence = [item]
    identifier.SeriesInstanceUID = ""
    query = Query.from_identifier(QueryLevel.SERIES, identifier)
    assert query.filters == {"ScheduledProcedureStepID": "SPS1"}
    assert "RequestAttributesSequence" in query.include_fields


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidInputError):
        Query(QueryLevel.PATIENT, filters={"StudyDate": "20200101"})
    with pytest.raises(InvalidInputError):
        Query(QueryLevel.STUDY, offset=-1)
