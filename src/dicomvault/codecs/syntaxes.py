"""Facts about transfer syntaxes that decide what may be transcoded into what.

PS3.5 Section 10 and Annex A list the transfer syntaxes; PS3.5 8.2 says which
compress losslessly. A syntax that *may* be lossy (JPEG 2000 "lossy or
lossless", HTJ2K) is treated as lossy here: we cannot tell from the syntax
alone, and the safe answer for an archive is never to label data that may
have lost information as lossless (PS3.3 C.7.6.1.1.5, Lossy Image
Compression).
"""

from __future__ import annotations

from typing import Final

IMPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN: Final = "1.2.840.10008.1.2.2"
RLE_LOSSLESS: Final = "1.2.840.10008.1.2.5"
JPEG_BASELINE: Final = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED: Final = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS: Final = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1: Final = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS: Final = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS: Final = "1.2.840.10008.1.2.4.81"
JPEG_2000_LOSSLESS: Final = "1.2.840.10008.1.2.4.90"
JPEG_2000: Final = "1.2.840.10008.1.2.4.91"
HTJ2K_LOSSLESS: Final = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL: Final = "1.2.840.10008.1.2.4.202"
HTJ2K: Final = "1.2.840.10008.1.2.4.203"

#: Pixel data stored as plain values (not encapsulated).
NATIVE_SYNTAXES: Final = frozenset({
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
})

#: Native syntaxes whose pixel values are little endian (frames can be sliced out as is).
LITTLE_ENDIAN_NATIVE: Final = NATIVE_SYNTAXES - {EXPLICIT_VR_BIG_ENDIAN}

#: Encapsulated syntaxes that are lossless by definition (PS3.5 8.2).
LOSSLESS_ENCAPSULATED: Final = frozenset({
    RLE_LOSSLESS,
    JPEG_LOSSLESS,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    JPEG_2000_LOSSLESS,
    "1.2.840.10008.1.2.4.92",  # JPEG 2000 Part 2 multi-component, lossless only
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    "1.2.840.10008.1.2.4.110",  # JPEG XL lossless
})


#: HTJ2K syntaxes (PS3.5 8.2.15, 10.18): their bitstreams are read and written by OpenJPH.
HTJ2K_SYNTAXES: Final = frozenset({HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL, HTJ2K})
#: JPEG 2000 Part 1 syntaxes (PS3.5 8.2.4).
JPEG_2000_SYNTAXES: Final = frozenset({JPEG_2000_LOSSLESS, JPEG_2000})
#: JPEG-LS syntaxes (PS3.5 8.2.3).
JPEG_LS_SYNTAXES: Final = frozenset({JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS})

#: Short names an operator may use for a syntax in the settings (``storage_compression``).
SYNTAX_NAMES: Final = {
    "explicit-vr-little-endian": EXPLICIT_VR_LITTLE_ENDIAN,
    "implicit-vr-little-endian": IMPLICIT_VR_LITTLE_ENDIAN,
    "deflated": DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    "rle": RLE_LOSSLESS,
    "jpeg-ls-lossless": JPEG_LS_LOSSLESS,
    "jpeg2000-lossless": JPEG_2000_LOSSLESS,
    "htj2k-lossless": HTJ2K_LOSSLESS,
    "htj2k-lossless-rpcl": HTJ2K_LOSSLESS_RPCL,
    "htj2k": HTJ2K,
}


def syntax_uid(name_or_uid: str) -> str:
    """The Transfer Syntax UID for a short name of :data:`SYNTAX_NAMES` or a UID itself."""
    return SYNTAX_NAMES.get(name_or_uid.strip().lower(), name_or_uid.strip())


def syntax_label(transfer_syntax: str) -> str:
    """A short human name for a syntax (``jpeg-ls-lossless``), the UID when it has none."""
    for name, uid in SYNTAX_NAMES.items():
        if uid == transfer_syntax:
            return name
    return transfer_syntax


def is_native(transfer_syntax: str) -> bool:
    """Whether pixel data in this syntax is native (not encapsulated)."""
    return transfer_syntax in NATIVE_SYNTAXES


def may_be_lossy(transfer_syntax: str) -> bool:
    """Whether pixel data in this syntax may have been compressed with loss."""
    return transfer_syntax not in NATIVE_SYNTAXES and transfer_syntax not in LOSSLESS_ENCAPSULATED
