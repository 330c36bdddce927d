"""What a de-identification keeps: the Basic Profile plus a set of PS3.15 E.3 options.

A :class:`DeidProfile` is what a sharing agreement names (its options as the
kebab-case names of :class:`DeidOption`) and what ``dicomvault deid --option``
takes. Each option has its code in CID 7050 "De-identification Method"
(PS3.16), recorded in De-identification Method Code Sequence (0012,0064) of
every instance it produced (PS3.15 E.1.1 step 6).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from dicomvault.errors import DeidentificationError


class DeidOption(enum.StrEnum):
    """The PS3.15 Annex E options dicomvault implements (E.3.5 to E.3.11)."""

    RETAIN_LONGITUDINAL_FULL_DATES = "retain-longitudinal-full-dates"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain-longitudinal-modified-dates"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_UIDS = "retain-uids"
    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    CLEAN_DESCRIPTORS = "clean-descriptors"


@dataclass(frozen=True)
class MethodCode:
    """One code of CID 7050 (coding scheme DCM)."""

    value: str
    meaning: str
    scheme: str = "DCM"


#: PS3.16 CID 7050: the profile's code and each option's.
BASIC_PROFILE_CODE = MethodCode("113100", "Basic Application Confidentiality Profile")
OPTION_CODES: dict[DeidOption, MethodCode] = {
    DeidOption.CLEAN_DESCRIPTORS: MethodCode("113105", "Clean Descriptors Option"),
    DeidOption.RETAIN_LONGITUDINAL_FULL_DATES: MethodCode(
        "113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: MethodCode(
        "113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    DeidOption.RETAIN_PATIENT_CHARACTERISTICS: MethodCode(
        "113108", "Retain Patient Characteristics Option"),
    DeidOption.RETAIN_DEVICE_IDENTITY: MethodCode("113109", "Retain Device Identity Option"),
    DeidOption.RETAIN_UIDS: MethodCode("113110", "Retain UIDs Option"),
    DeidOption.RETAIN_SAFE_PRIVATE: MethodCode("113111", "Retain Safe Private Option"),
}


@dataclass(frozen=True)
class DeidProfile:
    """The Basic Application Level Confidentiality Profile with ``options``.

    ``allow_burned_in`` lets instances that probably carry identity burned
    into their pixels through (see :mod:`dicomvault.deid.burned_in`); it is
    not an option of the standard but a decision of the agreement, since
    dicomvault does not clean pixel data.
    """

    options: frozenset[DeidOption] = frozenset()
    allow_burned_in: bool = False

    def __post_init__(self) -> None:
        if {DeidOption.RETAIN_LONGITUDINAL_FULL_DATES,
                DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES} <= self.options:
            raise DeidentificationError(
                "retain-longitudinal-full-dates and retain-longitudinal-modified-dates "
                "exclude each other: choose one")

    @classmethod
    def from_names(cls, names: Iterable[str], allow_burned_in: bool = False) -> DeidProfile:
        """Build a profile from option names as agreements and the CLI spell them."""
        options: set[DeidOption] = set()
        for name in names:
            try:
                options.add(DeidOption(name.strip().lower()))
            except ValueError:
                known = ", ".join(option.value for option in DeidOption)
                raise DeidentificationError(
                    f"unknown de-identification option {name!r}; known options: {known}"
                ) from None
        return cls(options=frozenset(options), allow_burned_in=allow_burned_in)

    def names(self) -> list[str]:
        """The options' names, sorted (stable for hashing an agreement)."""
        return sorted(option.value for option in self.options)

    def has(self, option: DeidOption) -> bool:
        return option in self.options

    def method_codes(self) -> list[MethodCode]:
        """CID 7050 codes for De-identification Method Code Sequence: 113100 first."""
        return [BASIC_PROFILE_CODE, *(OPTION_CODES[DeidOption(name)] for name in self.names())]
