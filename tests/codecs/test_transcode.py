"""Transcoding on retrieve: every syntax we read into every syntax we write, pixels unchanged;
lossy sources never presented as lossless; HTJ2K codestreams as PS3.5 10.18 asks."""

from __future__ import annotations

import io
import struct

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames, parse_basic_offsets
from tests.codecs.images import pixel_array, real_file, synthetic

from dicomvault.codecs import can_transcode, transcode, why_not_transcodable
from dicomvault.codecs.syntaxes import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    HTJ2K,
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
    may_be_lossy,
)
from dicomvault.errors import InvalidInputError, NotAcceptableError

TARGETS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
           DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, RLE_LOSSLESS, JPEG_LS_LOSSLESS,
           JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL, HTJ2K]
SOURCES = [
    "CT_small.dcm",                     # explicit VR LE
    "MR_small_implicit.dcm",            # implicit VR LE
    "MR_small_bigendian.dcm",           # explicit VR big endian (retired)
    "MR_small_RLE.dcm",                 # RLE lossless
    "MR_small_jpeg_ls_lossless.dcm",    # JPEG-LS lossless, signed
    "emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000 lossless, 10 frames
    "US1_J2KR.dcm",                     # JPEG 2000 lossless colour (YBR_RCT)
    "SC_rgb_jpeg_gdcm.dcm",             # JPEG lossless SV1, RGB
    "JPEG2000.dcm",                     # JPEG 2000 (may be lossy)
    "JPGExtended.dcm",                  # JPEG extended 12-bit (lossy)
    "SC_rgb_jpeg_dcmtk.dcm",            # JPEG baseline YBR_FULL (lossy)
    "JPEGLSNearLossless_16.dcm",        # JPEG-LS near-lossless
    "US1_J2KI.dcm",                     # JPEG 2000 irreversible colour (YBR_ICT)
]


def _syntax(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
               .file_meta.TransferSyntaxUID)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", SOURCES)
def test_transcoding_keeps_every_pixel(name: str, target: str) -> None:
    data = real_file(name)
    source = _syntax(data)
    if not can_transcode(source, target):
        assert may_be_lossy(source) and target not in (HTJ2K,)
        with pytest.raises(NotAcceptableError):
            transcode(data, target)
        return
    served = transcode(data, target)
    assert _syntax(served) == target
    assert np.array_equal(pixel_array(served), pixel_array(data))
    ds = pydicom.dcmread(io.BytesIO(served))
    assert ds.SOPInstanceUID == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID


def test_pixel_data_no_decoder_can_read_is_refused_with_a_clear_error() -> None:
    """pydicom's JPEG-lossy.dcm has a bitstream libjpeg rejects: an error, never garbage."""
    with pytest.raises(InvalidInputError, match="could not be decoded"):
        transcode(real_file("JPEG-lossy.dcm"), EXPLICIT_VR_LITTLE_ENDIAN)


@pytest.mark.parametrize("target", [RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS,
                                    HTJ2K_LOSSLESS])
def test_lossy_sources_are_never_labelled_lossless(target: str) -> None:
    assert not can_transcode("1.2.840.10008.1.2.4.50", target)
    assert not can_transcode("1.2.840.10008.1.2.4.91", target)
    assert not can_transcode(HTJ2K, target)
    assert can_transcode("1.2.840.10008.1.2.4.50", HTJ2K)  # a syntax that claims nothing


def test_each_frame_is_its_own_fragment_with_a_basic_offset_table() -> None:
    data = real_file("emri_small.dcm")  # 10 frames
    served = pydicom.dcmread(io.BytesIO(transcode(data, HTJ2K_LOSSLESS)))
    buffer = io.BytesIO(served.PixelData)
    offsets = parse_basic_offsets(buffer)
    assert len(offsets) == 10
    assert offsets[0] == 0 and offsets == sorted(offsets)
    assert len(list(generate_frames(served.PixelData, number_of_frames=10))) == 10


def test_pixels_an_encoder_refuses_are_refused_before_anything_is_sent() -> None:
    header = pydicom.dcmread(io.BytesIO(real_file("rtdose.dcm")), stop_before_pixels=True)
    reason = why_not_transcodable(header, str(header.file_meta.TransferSyntaxUID),
                                  JPEG_LS_LOSSLESS)
    assert reason is not None and "32 bits" in reason
    with pytest.raises(NotAcceptableError):
        transcode(real_file("rtdose.dcm"), JPEG_LS_LOSSLESS)


def _markers(codestream: bytes) -> dict[int, bytes]:
    """Main-header marker segments of a JPEG 2000 codestream (ISO 15444-1 A.4)."""
    found: dict[int, bytes] = {}
    position = 2  # after SOC
    while position + 4 <= len(codestream):
        (marker, length) = struct.unpack_from(">HH", codestream, position)
        if marker == 0xFF90:  # SOT: the main header ends
            break
        found[marker] = codestream[position + 4:position + 2 + length]
        position += 2 + length
    return found


@pytest.mark.parametrize(("rows", "columns"), [(96, 80), (1024, 1024), (300, 2100)])
def test_htj2k_rpcl_codestreams_follow_ps3_5_10_18(rows: int, columns: int) -> None:
    """RPCL progression, TLM markers, and a lowest resolution of at most 64 pixels."""
    data = synthetic(bits_stored=12, rows=rows, columns=columns)
    served = pydicom.dcmread(io.BytesIO(transcode(data, HTJ2K_LOSSLESS_RPCL)))
    [codestream] = generate_frames(served.PixelData, number_of_frames=1)
    markers = _markers(codestream)
    cod = markers[0xFF52]
    progression, decompositions = cod[1], cod[5]
    assert progression == 2  # RPCL (ISO 15444-1 Table A.16)
    assert 0xFF55 in markers  # TLM
    assert max(rows, columns) / 2**decompositions <= 64
    assert 0xFF50 in markers  # CAP: a Part 15 (HTJ2K) codestream


def test_colour_jpeg_2000_and_htj2k_say_ybr_rct() -> None:
    data = real_file("US1_UNCR.dcm")
    for target in (JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS):
        served = pydicom.dcmread(io.BytesIO(transcode(data, target)))
        assert served.PhotometricInterpretation == "YBR_RCT"
        assert served.PlanarConfiguration == 0


def test_planar_rgb_is_sent_interleaved_when_decoded_from_a_compressed_syntax() -> None:
    planar = synthetic(bits_stored=8, samples=3, photometric="RGB", planar=1)
    back = transcode(transcode(planar, JPEG_LS_LOSSLESS), EXPLICIT_VR_LITTLE_ENDIAN)
    ds = pydicom.dcmread(io.BytesIO(back))
    assert ds.PlanarConfiguration == 0
    assert np.array_equal(ds.pixel_array, pixel_array(planar))
