"""Apply the Basic Application Level Confidentiality Profile to one data set (PS3.15 E.1.1).

:class:`Deidentifier` walks a copy of the data set, top level and every item
of every sequence, and gives each attribute the action Table E.1-1 assigns it
under the profile (:mod:`dicomvault.deid.table`). Where the table is silent it
keeps the attribute, except for three kinds of value the standard itself
suggests handling by VR (E.1.1 note 4), because identity hides there in
attributes the table does not list (retired or newer ones, SR content):

* person names (PN): D, a dummy;
* dates and times (DA, DT, TM): treated as the table treats dates (D; K under
  Full Dates; C, shifted, under Modified Dates);
* instance UIDs (UI outside the DICOM root 1.2.840.10008, not a class or
  transfer syntax): U, so that every reference keeps pointing at the remapped
  instance, series, study or frame of reference.

SR Text Value (0040,A160) is dummied (cleaned under Clean Descriptors): the
table leaves SR text to the Clean Structured Content Option, which dicomvault
does not offer. Private attributes are removed unless Retain Safe Private is
on and the attribute is on the safe list. Then Patient Identity Removed,
De-identification Method and its Code Sequence are set (E.1.1 step 6) and the
File Meta Information is rebuilt (step 7).
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from dicomvault.deid.burned_in import burned_in_reason
from dicomvault.deid.profile import DeidOption, DeidProfile
from dicomvault.deid.pseudonyms import UUID_ROOT, Pseudonymizer
from dicomvault.deid.table import Action, safe_private_attributes, standard_table
from dicomvault.deid.values import (
    TEMPORAL_VRS,
    clean_text,
    dummy_for,
    identifying_words,
    shift_dates,
)

_PATIENT_NAME = 0x00100010
_PATIENT_ID = 0x00100020
_CONTENT_SEQUENCE = 0x0040A730
_TEXT_VALUE = 0x0040A160
_TIMEZONE_OFFSET = 0x00080201
#: Attributes the table removes (X) that are Type 2 in an IOD (Treatment Machine Name in
#: RT Beams, PS3.3 C.8.8.14): emptied instead, which discloses no more and keeps the IOD valid.
_REQUIRED_EVEN_IF_EMPTY = frozenset({0x300A00B2})
#: SR concepts of the subject's characteristics (DCM codes of TID 1007 Subject Context, Patient).
_SUBJECT_CHARACTERISTICS = {("121032", "DCM"): "sex", ("121033", "DCM"): "age"}
_DICOM_UID_ROOT = "1.2.840.10008."
#: UI attributes that name classes, syntaxes or coding resources, not instances: never remapped.
_NOT_INSTANCE_UID_SUFFIXES = ("ClassUID", "SyntaxUID", "CodingSchemeUID",
                              "MappingResourceUID", "CreatorUID", "ExtensionCreatorUID")
#: Attributes whose words must not survive cleaning (action C on text).
_IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "PatientAddress", "AccessionNumber",
    "IssuerOfPatientID", "MedicalRecordLocator", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord",
    "RequestingPhysician",
)
_METHOD_TEXT = "dicomvault Basic Application Confidentiality Profile"


@dataclass(frozen=True)
class AttributeChange:
    """What one attribute became. Never carries the original value.

    ``tag`` is ``(gggg,eeee)``; ``path`` locates it inside sequences
    (``ReferencedSeriesSequence[0].SeriesInstanceUID``), empty at the top level.
    """

    tag: str
    keyword: str
    action: Action
    became: str
    path: str = ""


@dataclass(frozen=True)
class DeidOutcome:
    """The de-identified data set, or why the instance was held back, and the report."""

    dataset: Dataset | None
    held_back_reason: str | None
    report: list[AttributeChange] = field(default_factory=list)

    @property
    def released(self) -> bool:
        return self.dataset is not None


class _Mode(enum.Enum):
    TABLE = "table"  # apply Table E.1-1 to every attribute
    DUMMY = "dummy"  # inside a sequence whose action is D: every value becomes a dummy


@dataclass
class _Instance:
    """What the walk over one instance needs: its patient's shift and words to clean."""

    shift_days: int
    words: list[str]
    pseudonym: str
    report: list[AttributeChange]


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _base_vr(element: DataElement) -> str:
    vr = str(element.VR)
    return vr.split(" or ", maxsplit=1)[0]


class Deidentifier:
    """De-identifies data sets under one pseudonym key and one profile.

    One instance serves a whole transfer: its UID map is a cache of a keyed
    function, so two Deidentifiers with the same key and root agree on every
    UID and pseudonym, and two with different keys agree on none.
    """

    def __init__(self, key: bytes, profile: DeidProfile, uid_root: str = UUID_ROOT) -> None:
        self.profile = profile
        self._pseudonyms = Pseudonymizer(key, uid_root)
        self._table = standard_table()
        self._safe_private = safe_private_attributes()

    @property
    def uid_root(self) -> str:
        return self._pseudonyms.uid_root

    def patient_pseudonym(self, dataset: Dataset) -> str:
        """The pseudonym this key gives the patient of ``dataset``."""
        return self._pseudonyms.patient(_patient_identity(dataset))

    def remap_uid(self, uid: str) -> str:
        """The replacement of ``uid`` (as references to it will read after de-identification)."""
        if self.profile.has(DeidOption.RETAIN_UIDS):
            return uid
        return self._pseudonyms.uid(uid)

    def deidentify(self, dataset: Dataset) -> DeidOutcome:
        """A de-identified copy of ``dataset`` (the input is never modified), or a hold-back."""
        if not self.profile.allow_burned_in:
            reason = burned_in_reason(dataset)
            if reason is not None:
                return DeidOutcome(dataset=None, held_back_reason=reason, report=[])
        identity = _patient_identity(dataset)
        instance = _Instance(
            shift_days=self._pseudonyms.date_shift_days(identity),
            words=identifying_words(
                dataset.get(keyword) for keyword in _IDENTIFYING_KEYWORDS if keyword in dataset),
            pseudonym=self._pseudonyms.patient(identity),
            report=[],
        )
        out = copy.deepcopy(dataset)
        out.file_meta = FileMetaDataset()
        self._walk(out, "", _Mode.TABLE, instance)
        for tag, keyword in ((_PATIENT_ID, "PatientID"), (_PATIENT_NAME, "PatientName")):
            if tag not in out:  # Type 2 in the Patient Module: the grantee groups by it
                setattr(out, keyword, _pseudonym_value(tag, instance.pseudonym))
                instance.report.append(AttributeChange(
                    _tag_text(tag), keyword, Action.EMPTY, "pseudonym (added)", ""))
        self._stamp(out)
        out.file_meta = self._file_meta(out, dataset)
        out.preamble = b"\x00" * 128
        return DeidOutcome(dataset=out, held_back_reason=None, report=instance.report)

    # -- the walk ----------------------------------------------------------------

    def _walk(self, dataset: Dataset, path: str, mode: _Mode, instance: _Instance) -> None:
        used_creators: set[int] = set()
        creators: list[int] = []
        for element in list(dataset):
            tag = BaseTag(element.tag)
            if tag.element == 0x0000:
                del dataset[tag]  # group lengths: deprecated, and wrong after our changes
            elif tag.is_private:
                if tag.is_private_creator:
                    creators.append(int(tag))
                else:
                    self._private(dataset, element, path, used_creators, instance)
            else:
                self._public(dataset, element, path, mode, instance)
        for creator in creators:
            if creator not in used_creators:
                del dataset[creator]
                instance.report.append(AttributeChange(
                    _tag_text(creator), "PrivateCreator", Action.REMOVE, "removed", path))

    def _private(self, dataset: Dataset, element: DataElement, path: str,
                 used_creators: set[int], instance: _Instance) -> None:
        tag = BaseTag(element.tag)
        creator_tag = (tag.group << 16) | (tag.element >> 8)
        rule = self._table.private
        action = rule.action(self.profile) if rule is not None else Action.REMOVE
        if action is Action.CLEAN and creator_tag in dataset and tag.element >= 0x1000:
            creator = str(dataset[creator_tag].value).strip()
            safe = self._safe_private.get((tag.group, creator, tag.element & 0xFF))
            if safe is not None:
                used_creators.add(creator_tag)
                instance.report.append(AttributeChange(
                    _tag_text(tag), f"[{creator}] {safe.name}", Action.KEEP,
                    "kept (safe private)", path))
                return
        del dataset[tag]
        instance.report.append(AttributeChange(
            _tag_text(tag), "", Action.REMOVE, "removed (private)", path))

    def _public(self, dataset: Dataset, element: DataElement, path: str, mode: _Mode,
                instance: _Instance) -> None:
        tag = int(element.tag)
        action = self._action(element, mode)
        if action is None:  # kept without a rule: recurse into sequences only
            if element.VR == "SQ":
                self._items(element, path, mode, instance)
            return
        keyword = keyword_for_tag(tag) or ""
        if element.VR == "SQ" and action not in (Action.REMOVE, Action.EMPTY):
            became = self._apply_to_sequence(element, action, path, mode, instance)
        else:
            became = self._apply(dataset, element, action, not path, instance)
        if mode is _Mode.TABLE:
            instance.report.append(
                AttributeChange(_tag_text(tag), keyword, action, became, path))

    def _action(self, element: DataElement, mode: _Mode) -> Action | None:
        """The action for a public attribute, or None to keep it unreported."""
        vr = _base_vr(element)
        if mode is _Mode.DUMMY:
            if vr == "UI":
                return self._uid_action(element)
            if vr == "CS":  # coded values identify no one (PS3.15 E.1.1 note 9)
                return None
            return Action.KEEP if vr == "SQ" else Action.DUMMY
        rule = self._table.rule_for(int(element.tag))
        if rule is not None:
            action = rule.action(self.profile)
            if action is Action.REMOVE and int(element.tag) in _REQUIRED_EVEN_IF_EMPTY:
                return Action.EMPTY
            return action
        if int(element.tag) == _TEXT_VALUE:
            return (Action.CLEAN if self.profile.has(DeidOption.CLEAN_DESCRIPTORS)
                    else Action.DUMMY)
        if vr == "PN":
            return Action.DUMMY
        if vr in TEMPORAL_VRS:
            if self.profile.has(DeidOption.RETAIN_LONGITUDINAL_FULL_DATES):
                return Action.KEEP
            if self.profile.has(DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES):
                return Action.CLEAN
            return Action.DUMMY
        if vr == "UI":
            return self._uid_action(element)
        return None

    def _uid_action(self, element: DataElement) -> Action | None:
        keyword = keyword_for_tag(int(element.tag)) or ""
        if keyword.endswith(_NOT_INSTANCE_UID_SUFFIXES) or keyword in (
                "MediaStorageSOPClassUID", "TransferSyntaxUID"):
            return None
        values = _uid_values(element.value)
        if not values or all(value.startswith(_DICOM_UID_ROOT) for value in values):
            return None
        if self.profile.has(DeidOption.RETAIN_UIDS):
            return None
        return Action.UID

    def _apply_to_sequence(self, element: DataElement, action: Action, path: str,
                           mode: _Mode, instance: _Instance) -> str:
        """K, C, U, D on a sequence: keep it and de-identify its items.

        D means dummy values throughout the items (a person's identification
        codes, a verifying observer), except for Content Sequence, whose SR
        content items are walked with the table so that references survive.
        """
        dummy = mode is _Mode.DUMMY or (
            action is Action.DUMMY and int(element.tag) != _CONTENT_SEQUENCE)
        if int(element.tag) == _CONTENT_SEQUENCE and not dummy:
            self._drop_subject_characteristics(element, path, instance)
        self._items(element, path, _Mode.DUMMY if dummy else _Mode.TABLE, instance)
        count = len(element.value or [])
        if dummy:
            return f"dummy values in {count} item(s)"
        return f"kept, {count} item(s) de-identified"

    def _drop_subject_characteristics(self, element: DataElement, path: str,
                                      instance: _Instance) -> None:
        """SR content items stating the subject's age or sex: X, as PS3.15 Annex E's table of
        SR content item concepts codes Subject Age (DCM 121033) and Subject Sex (121032).

        Names, IDs, dates and UIDs in content items are handled by their VR;
        a coded sex or a numeric age is not, so the items go, unless Retain
        Patient Characteristics keeps them.
        """
        if self.profile.has(DeidOption.RETAIN_PATIENT_CHARACTERISTICS):
            return
        kept = Sequence()
        for index, item in enumerate(element.value or []):
            concept = item.get("ConceptNameCodeSequence")
            code = (str(concept[0].get("CodeValue", "")), str(
                concept[0].get("CodingSchemeDesignator", ""))) if concept else None
            if code in _SUBJECT_CHARACTERISTICS:
                instance.report.append(AttributeChange(
                    _tag_text(_CONTENT_SEQUENCE), "ContentSequence", Action.REMOVE,
                    f"item removed (subject {_SUBJECT_CHARACTERISTICS[code]})",
                    f"{path}ContentSequence[{index}]."))
                continue
            kept.append(item)
        element.value = kept

    def _apply(self, dataset: Dataset, element: DataElement, action: Action, top_level: bool,
               instance: _Instance) -> str:
        """Carry out ``action`` on a non-sequence ``element`` (or X/Z on a sequence)."""
        tag = int(element.tag)
        vr = _base_vr(element)
        if action is Action.REMOVE:
            del dataset[tag]
            return "removed"
        if action is Action.EMPTY:
            if tag in (_PATIENT_ID, _PATIENT_NAME) and top_level:
                # Z allows a dummy: the keyed pseudonym keeps a patient's instances together.
                element.value = _pseudonym_value(tag, instance.pseudonym)
                return "pseudonym"
            if vr == "SQ":
                element.value = Sequence()
                return "emptied (no items)"
            element.value = "" if vr in _STRING_VRS else None
            return "emptied"
        if action is Action.DUMMY and vr != "UI":
            element.value = dummy_for(vr)
            return f"dummy {element.value!r}"
        if action in (Action.UID, Action.DUMMY):  # a dummy UID is a consistent replacement
            new = [self._pseudonyms.uid(uid) for uid in _uid_values(element.value)]
            element.value = new[0] if len(new) == 1 else new
            return new[0] if len(new) == 1 else f"{len(new)} UIDs remapped"
        if action is Action.CLEAN:
            if tag == _TIMEZONE_OFFSET:
                return "kept (an offset, not a date)"
            if vr in TEMPORAL_VRS:
                element.value = shift_dates(element.value, vr, instance.shift_days)
                return ("time kept (dates shift whole days)" if vr == "TM"
                        else "shifted by the patient's date offset")
            if vr in _STRING_VRS:
                element.value = clean_text(element.value, instance.words)
                return "cleaned (identifying words replaced by *)"
            return "kept (nothing to clean)"
        return "kept"

    def _items(self, element: DataElement, path: str, mode: _Mode,
               instance: _Instance) -> None:
        keyword = keyword_for_tag(int(element.tag)) or _tag_text(int(element.tag))
        for index, item in enumerate(element.value or []):
            self._walk(item, f"{path}{keyword}[{index}].", mode, instance)

    # -- what the result says about itself -----------------------------------------

    def _stamp(self, dataset: Dataset) -> None:
        """PS3.15 E.1.1 step 6 and E.3.6: say what was done, in attributes and codes."""
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = [_METHOD_TEXT, *self.profile.names()]
        codes = Sequence()
        for code in self.profile.method_codes():
            item = Dataset()
            item.CodeValue = code.value
            item.CodingSchemeDesignator = code.scheme
            item.CodeMeaning = code.meaning
            codes.append(item)
        dataset.DeidentificationMethodCodeSequence = codes
        if self.profile.has(DeidOption.RETAIN_LONGITUDINAL_FULL_DATES):
            dataset.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif self.profile.has(DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES):
            dataset.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            dataset.LongitudinalTemporalInformationModified = "REMOVED"

    @staticmethod
    def _file_meta(dataset: Dataset, original: Dataset) -> FileMetaDataset:
        """New File Meta Information: nothing of the original's but its transfer syntax."""
        meta = FileMetaDataset()
        if "SOPClassUID" in dataset:
            meta.MediaStorageSOPClassUID = dataset.SOPClassUID
        if "SOPInstanceUID" in dataset:
            meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        original_meta = getattr(original, "file_meta", None)
        syntax = original_meta.get("TransferSyntaxUID") if original_meta is not None else None
        meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "DICOMVAULT_DEID"
        return meta


_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
                         "ST", "TM", "UC", "UI", "UR", "UT"})


def _pseudonym_value(tag: int, pseudonym: str) -> str:
    """Patient ID is the pseudonym; Patient's Name is it as a family name (``DV...^``)."""
    return f"{pseudonym}^" if tag == _PATIENT_NAME else pseudonym


def _uid_values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value if item]


def _patient_identity(dataset: Dataset) -> str:
    """What identifies the patient for pseudonyms and the date shift (never stored).

    Patient ID qualified by its issuer; without an ID, name and birth date;
    without either, the study (each study then stands for its own patient).
    """
    patient_id = str(dataset.get("PatientID", "") or "").strip()
    if patient_id:
        issuer = str(dataset.get("IssuerOfPatientID", "") or "").strip()
        return f"id:{issuer}|{patient_id}"
    name = str(dataset.get("PatientName", "") or "").strip()
    birth = str(dataset.get("PatientBirthDate", "") or "").strip()
    if name:
        return f"name:{name}|{birth}"
    return f"study:{dataset.get('StudyInstanceUID', '')}"
