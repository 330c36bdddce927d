"""De-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

Public surface::

    profile = DeidProfile.from_names(["retain-longitudinal-modified-dates"])
    outcome = Deidentifier(key, profile).deidentify(dataset)   # never mutates dataset
    outcome.dataset            # de-identified copy, or None when held back
    outcome.held_back_reason   # e.g. "burned-in annotation ..." (no PHI)
    outcome.report             # AttributeChange per attribute touched (no original values)

The action table is PS3.15 Table E.1-1, shipped as data
(``data/confidentiality_profile.tsv``, provenance in ``data/README.md``).
Pseudonyms, UIDs and date shifts are keyed by the per-agreement pseudonym key
(:mod:`dicomvault.deid.pseudonyms`). User documentation: ``docs/deid.md``.
"""

from dicomvault.deid.deidentifier import AttributeChange, Deidentifier, DeidOutcome
from dicomvault.deid.profile import DeidOption, DeidProfile
from dicomvault.deid.pseudonyms import generate_key, read_key_file, write_key_file
from dicomvault.deid.table import Action
from dicomvault.deid.writer import part10_bytes

__all__ = [
    "Action",
    "AttributeChange",
    "DeidOption",
    "DeidOutcome",
    "DeidProfile",
    "Deidentifier",
    "generate_key",
    "part10_bytes",
    "read_key_file",
    "write_key_file",
]
