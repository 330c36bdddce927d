"""PS3.15 Table E.1-1 as data, and the single action it gives an attribute under a profile.

The table lives in ``data/confidentiality_profile.tsv`` (one row per attribute
of the standard's table, columns as the standard's: Basic Profile and one per
option; provenance in ``data/README.md``). This module reads it once and
answers one question: for this tag, under this profile, which action code?

Action codes (PS3.15 E.1.1)::

    D  replace with a non-zero length dummy value consistent with the VR
    Z  replace with a zero length value (or a dummy)
    X  remove
    K  keep (sequences: keep, applying the profile to their items)
    C  clean: replace with values of similar meaning known not to identify
    U  replace a UID with one that is consistent within the set of instances

The compound codes of the table depend on the attribute's Type in the IOD,
which a generic de-identifier does not know. dicomvault takes the branch that
keeps any IOD valid and still hides the value: ``X/Z`` -> Z (Type 2 allows
empty, Type 3 allows empty), ``X/D``, ``Z/D`` and ``X/Z/D`` -> D (a dummy
satisfies Type 1), ``X/Z/U*`` -> U (keep the sequence, replace the UIDs it
contains). An option's column, when the option is on, overrides the Basic
Profile (E.1.1: "A requirement for an Option ... overrides").
"""

from __future__ import annotations

import csv
import enum
import functools
import io
from dataclasses import dataclass
from importlib import resources

from dicomvault.deid.profile import DeidOption, DeidProfile


class Action(enum.StrEnum):
    """One resolved action of PS3.15 E.1.1."""

    DUMMY = "D"
    EMPTY = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"


#: The table's option columns, for the options dicomvault offers. The other
#: columns (Retain Institution Identity, Clean Structured Content, Clean
#: Graphics) stay in the data and are never applied.
OPTION_COLUMNS: dict[DeidOption, str] = {
    DeidOption.RETAIN_SAFE_PRIVATE: "rtn_safe_private",
    DeidOption.RETAIN_UIDS: "rtn_uids",
    DeidOption.RETAIN_DEVICE_IDENTITY: "rtn_device_id",
    DeidOption.RETAIN_PATIENT_CHARACTERISTICS: "rtn_patient_chars",
    DeidOption.RETAIN_LONGITUDINAL_FULL_DATES: "rtn_long_full_dates",
    DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: "rtn_long_modified_dates",
    DeidOption.CLEAN_DESCRIPTORS: "clean_descriptors",
}

_COMPOUND: dict[str, Action] = {
    "X/Z": Action.EMPTY,
    "X/D": Action.DUMMY,
    "Z/D": Action.DUMMY,
    "X/Z/D": Action.DUMMY,
    "X/Z/U*": Action.UID,
}

#: Tag of the table's row for all private attributes ("(gggg,eeee) where gggg is odd").
PRIVATE_ROW = "PRIVATE"


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1: the tag (maybe with ``X`` wildcards), name and codes."""

    tag: str
    name: str
    basic: str
    options: dict[str, str]

    def action(self, profile: DeidProfile) -> Action:
        """The one action for this attribute under ``profile``.

        When several enabled options speak about one attribute (Device UID is
        in both Retain UIDs and Retain Device Identity), the most retentive
        wins: K, then C, then X.
        """
        codes = {self.options[column] for option, column in OPTION_COLUMNS.items()
                 if option in profile.options and self.options.get(column)}
        for code in ("K", "C", "X"):
            if code in codes:
                return Action(code)
        return _COMPOUND.get(self.basic) or Action(self.basic)


class ActionTable:
    """Table E.1-1 indexed by tag, with its wildcard rows (curves, overlays)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._exact: dict[int, Rule] = {}
        self._masked: list[tuple[int, int, Rule]] = []
        self.private: Rule | None = None
        for rule in rules:
            if rule.tag == PRIVATE_ROW:
                self.private = rule
                continue
            digits = rule.tag.strip("()").replace(",", "")
            if "X" in digits.upper():
                mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
                value = int("".join("0" if c in "xX" else c for c in digits), 16)
                self._masked.append((mask, value, rule))
            else:
                self._exact[int(digits, 16)] = rule

    def rule_for(self, tag: int) -> Rule | None:
        """The row that governs ``tag`` (a public tag), or None when the table is silent."""
        rule = self._exact.get(tag)
        if rule is not None:
            return rule
        for mask, value, masked_rule in self._masked:
            # Repeating groups (curves 50xx, overlays 60xx) use even groups only.
            if tag & mask == value and not (tag >> 16) & 1:
                return masked_rule
        return None


def parse_table(text: str) -> ActionTable:
    """Parse the TSV of Table E.1-1 (header row names the columns)."""
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    rules = []
    for row in reader:
        options = {column: row[column].strip() for column in row
                   if column.startswith(("rtn_", "clean_")) and row[column].strip()}
        rules.append(Rule(tag=row["tag"].strip(), name=row["name"].strip(),
                          basic=row["basic_profile"].strip(), options=options))
    return ActionTable(rules)


@functools.cache
def standard_table() -> ActionTable:
    """Table E.1-1 as shipped in the package (read once per process)."""
    text = resources.files("dicomvault.deid").joinpath(
        "data/confidentiality_profile.tsv").read_text(encoding="utf-8")
    return parse_table(text)


@dataclass(frozen=True)
class SafePrivate:
    """A private attribute known to carry no identity (PS3.15 E.3.10)."""

    group: int
    element: int  # the low byte: the element within its private block
    creator: str
    name: str


@functools.cache
def safe_private_attributes() -> dict[tuple[int, str, int], SafePrivate]:
    """The safe private list, keyed by (group, private creator, element byte)."""
    text = resources.files("dicomvault.deid").joinpath(
        "data/safe_private.tsv").read_text(encoding="utf-8")
    found: dict[tuple[int, str, int], SafePrivate] = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        group, element = (int(part, 16) for part in row["tag"].strip("()").split(","))
        item = SafePrivate(group, element, row["creator"], row["name"])
        found[(item.group, item.creator, item.element)] = item
    return found
