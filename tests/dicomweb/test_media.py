"""Content-Type parsing and Accept negotiation for DICOMweb (PS3.18 8.7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomvault.dicomweb.media import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    Offer,
    multipart_content_type,
    negotiate,
    negotiate_bulkdata,
    negotiate_frames,
    negotiate_instances,
    negotiate_rendered,
    new_boundary,
    parse_accept,
    parse_content_type,
    require_json_acceptable,
)
from dicomvault.errors import NotAcceptableError, UnsupportedMediaTypeError

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_LS = "1.2.840.10008.1.2.4.80"
IMPLICIT_LE = "1.2.840.10008.1.2"
DICOM_PARTS = 'multipart/related; type="application/dicom"'
OCTET_PARTS = 'multipart/related; type="application/octet-stream"'


# -- Content-Type -----------------------------------------------------------------------


def test_content_type_with_quoted_parameters() -> None:
    media = parse_content_type(
        'Multipart/Related; TYPE="application/dicom"; boundary="a:b c\\"d"; '
        "transfer-syntax=1.2.840.10008.1.2.1")
    assert media.type == "multipart/related"
    assert media.part_type == "application/dicom"
    assert media.params["boundary"] == 'a:b c"d'  # case and quotes as sent
    assert media.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN


def test_a_semicolon_inside_quotes_is_part_of_the_value() -> None:
    media = parse_content_type('multipart/related; boundary="x;y"; type=application/dicom')
    assert media.params == {"boundary": "x;y", "type": "application/dicom"}


@pytest.mark.parametrize("header", ["dicom", "multipart/", "a/b; =x", 'a/b; x="open',
                                    "*/*", "image/*", "a b/c"])
def test_unparseable_content_types_are_415(header: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        parse_content_type(header)
    assert caught.value.http_status == 415


def test_multipart_content_type_round_trips() -> None:
    boundary = new_boundary()
    text = multipart_content_type("application/dicom", boundary)
    media = parse_content_type(text)
    assert (media.part_type, media.params["boundary"]) == ("application/dicom", boundary)
    quoted = parse_content_type(multipart_content_type("a/b", "with space"))
    assert quoted.params["boundary"] == "with space"
    assert str(parse_content_type('a/b; x="1 2"')) == 'a/b; x="1 2"'


# -- Accept -----------------------------------------------------------------------------


def test_accept_is_ordered_by_weight_and_drops_extensions() -> None:
    ranges = parse_accept('image/png;q=0.5, image/jpeg;q=0.9;ext=1, '
                          'multipart/related; type="a,b"; q=0.7, bogus, a/b;q=2, */*;q=x')
    assert [(r.media.type, r.q) for r in ranges] == [
        ("image/jpeg", 0.9), ("multipart/related", 0.7), ("image/png", 0.5)]
    assert ranges[0].media.params == {}
    assert ranges[1].media.part_type == "a,b"


def test_absent_accept_means_anything() -> None:
    for header in (None, "", "  "):
        [only] = parse_accept(header)
        assert (only.media.type, only.q) == ("*/*", 1.0)


@given(st.text(max_size=200))
def test_any_accept_header_negotiates_or_says_406(header: str) -> None:
    offers = [Offer("application/dicom+json"), Offer("image/png"),
              Offer("application/dicom", EXPLICIT_VR_LITTLE_ENDIAN, multipart=True)]
    try:
        chosen = negotiate(header, offers)
    except NotAcceptableError as exc:
        assert "allows none of" in exc.message
    else:
        assert chosen.offer in offers and 0 < chosen.q <= 1


# -- instances (PS3.18 10.4.1.1.1) ------------------------------------------------------


@pytest.mark.parametrize("header", [None, "*/*", DICOM_PARTS, "multipart/related",
                                    "multipart/*", f"{DICOM_PARTS}; transfer-syntax=*"])
def test_default_instance_syntax_is_explicit_vr_little_endian(header: str | None) -> None:
    assert negotiate_instances(header).transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN


def test_without_transfer_syntax_only_the_default_is_sent_as_stored() -> None:
    target = negotiate_instances(DICOM_PARTS)
    assert target.accepts(EXPLICIT_VR_LITTLE_ENDIAN)
    assert not target.accepts(J2K_LOSSLESS)
    assert not target.accepts(IMPLICIT_LE)


def test_transfer_syntax_star_sends_anything_as_stored() -> None:
    target = negotiate_instances(f"{DICOM_PARTS}; transfer-syntax=*")
    assert target.accepts(J2K_LOSSLESS) and target.accepts(IMPLICIT_LE)


def test_the_client_preferred_syntax_is_the_transcoding_target() -> None:
    target = negotiate_instances(
        f"{DICOM_PARTS}; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}; q=0.5, "
        f"{DICOM_PARTS}; transfer-syntax={J2K_LOSSLESS}")
    assert target.transfer_syntax == J2K_LOSSLESS
    assert target.accepts(EXPLICIT_VR_LITTLE_ENDIAN) and target.accepts(J2K_LOSSLESS)
    assert not target.accepts(JPEG_BASELINE)


def test_q_zero_on_a_specific_syntax_excludes_it_despite_a_star() -> None:
    target = negotiate_instances(
        f"{DICOM_PARTS}; transfer-syntax=*, {DICOM_PARTS}; transfer-syntax={JPEG_BASELINE};q=0")
    assert target.accepts(J2K_LOSSLESS)
    assert not target.accepts(JPEG_BASELINE)


@pytest.mark.parametrize("header", ["application/dicom+json", "image/png",
                                    'multipart/related; type="application/octet-stream"',
                                    f"{DICOM_PARTS};q=0"])
def test_instances_for_another_media_type_are_406(header: str) -> None:
    with pytest.raises(NotAcceptableError) as caught:
        negotiate_instances(header)
    assert caught.value.http_status == 406


# -- frames (PS3.18 10.4.1.1.3, Table 8.7.3-5) ------------------------------------------


def test_native_frames_as_octet_stream() -> None:
    for stored in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_LE, "1.2.840.10008.1.2.2"):
        choice = negotiate_frames(OCTET_PARTS, stored)
        assert not choice.compressed
        assert choice.part_content_type == (
            f"application/octet-stream; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}")


def test_compressed_frames_are_sent_as_stored_in_their_own_media_type() -> None:
    choice = negotiate_frames('multipart/related; type="image/jp2"', J2K_LOSSLESS)
    assert choice.compressed
    assert choice.part_content_type == f"image/jp2; transfer-syntax={J2K_LOSSLESS}"
    assert negotiate_frames("*/*", JPEG_LS).media_type == "image/jls"
    assert negotiate_frames(None, "1.2.840.10008.1.2.4.201").media_type == "image/jphc"


def test_octet_stream_with_any_syntax_gets_the_stored_bitstream() -> None:
    choice = negotiate_frames(f"{OCTET_PARTS}; transfer-syntax=*", J2K_LOSSLESS)
    assert choice.compressed and choice.media_type == "application/octet-stream"
    assert choice.part_content_type.endswith(J2K_LOSSLESS)


def test_plain_octet_stream_of_compressed_frames_means_decoding_them() -> None:
    choice = negotiate_frames(OCTET_PARTS, J2K_LOSSLESS)
    assert not choice.compressed and choice.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN


def test_client_weights_decide_between_compressed_and_native() -> None:
    header = f'{OCTET_PARTS};q=0.9, multipart/related; type="image/jp2";q=0.2'
    assert not negotiate_frames(header, J2K_LOSSLESS).compressed


def test_frames_in_a_compressed_type_that_is_not_stored_are_406() -> None:
    with pytest.raises(NotAcceptableError, match="image/jp2"):
        negotiate_frames('multipart/related; type="image/jls"', J2K_LOSSLESS)
    with pytest.raises(NotAcceptableError):
        negotiate_frames('multipart/related; type="image/jp2"', EXPLICIT_VR_LITTLE_ENDIAN)


def test_bulkdata_is_octet_stream() -> None:
    assert negotiate_bulkdata(OCTET_PARTS).media_type == "application/octet-stream"
    with pytest.raises(NotAcceptableError):
        negotiate_bulkdata("application/dicom+json")


# -- metadata and rendered --------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    (None, "application/dicom+json"), ("application/dicom+json", "application/dicom+json"),
    ("application/json", "application/json"), ("application/*", "application/dicom+json"),
    ("application/json, application/dicom+json;q=0.1", "application/json"),
])
def test_json_media_types(header: str | None, expected: str) -> None:
    assert require_json_acceptable(header) == expected


def test_json_not_acceptable_is_406() -> None:
    with pytest.raises(NotAcceptableError):
        require_json_acceptable("image/png")


@pytest.mark.parametrize(("header", "expected"), [
    (None, "image/jpeg"), ("image/*", "image/jpeg"), ("image/png", "image/png"),
    ("image/png;q=0.5, image/jpeg;q=0.9", "image/jpeg"),
    ("text/html, image/png;q=0.1", "image/png"),
])
def test_rendered_media_types(header: str | None, expected: str) -> None:
    assert negotiate_rendered(header) == expected


def test_rendered_types_we_cannot_make_are_406() -> None:
    with pytest.raises(NotAcceptableError, match="image/png"):
        negotiate_rendered("image/gif, text/html")
