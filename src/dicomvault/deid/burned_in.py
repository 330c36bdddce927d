"""Which instances probably carry identity burned into their pixels, and so are held back.

dicomvault does not clean pixel data (no Clean Pixel Data Option, PS3.15
E.3.1): an instance whose pixels may show a name or an ID is not released
unless the agreement explicitly allows it (``DeidProfile.allow_burned_in``).
The reason returned names the rule, never a value of the instance.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

#: Secondary Capture Image Storage and its multi-frame variants (PS3.4 B.5):
#: screenshots and scanned documents, where text in the image is the norm.
SECONDARY_CAPTURE_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",
})
#: Ultrasound image storage (current and retired): scanners print the patient on the image.
ULTRASOUND_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.6.2",
    "1.2.840.10008.5.1.4.1.1.6",
    "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.3",
})
#: Encapsulated documents (PDF, CDA, STL, ...): their content is outside the profile.
ENCAPSULATED_PREFIX = "1.2.840.10008.5.1.4.1.1.104."


def burned_in_reason(dataset: Dataset) -> str | None:
    """Why ``dataset`` should be held back, or None when nothing suggests burned-in identity."""
    burned_in = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    sop_class = str(dataset.get("SOPClassUID", "") or "")
    if burned_in == "YES":
        return "burned-in annotation (BurnedInAnnotation = YES)"
    if sop_class in SECONDARY_CAPTURE_CLASSES:
        return "secondary capture (may carry burned-in identity)"
    is_ultrasound = sop_class in ULTRASOUND_CLASSES or (
        str(dataset.get("Modality", "") or "").upper() == "US" and "PixelData" in dataset)
    if is_ultrasound and burned_in != "NO":
        return "ultrasound without BurnedInAnnotation = NO"
    if sop_class.startswith(ENCAPSULATED_PREFIX):
        return "encapsulated document (content not de-identified)"
    return None
