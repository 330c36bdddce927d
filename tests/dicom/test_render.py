"""Rendering frames as consumer images (PS3.18 8.3.5, 10.4.1.1.4; PS3.3 C.11)."""

from __future__ import annotations

import copy
import io

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_voi_lut

from dicomvault.codecs import number_of_frames
from dicomvault.dicom.render import frame_image, render_frame, thumbnail
from dicomvault.errors import InvalidInputError, NotAcceptableError, NotFoundError


def _read(name: str) -> Dataset:
    return pydicom.dcmread(str(get_testdata_file(name)), force=True)


def _png(ds: Dataset, frame: int = 1, **options: object) -> npt.NDArray[np.uint8]:
    data = render_frame(ds, frame, "image/png", **options)  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image)


def _linear_window(values: npt.NDArray[np.float64], center: float,
                   width: float) -> npt.NDArray[np.uint8]:
    """PS3.3 C.11.2.1.2.1 written out independently, to 8 bits."""
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    y = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    y = np.where(values <= low, 0, np.where(values > high, 255, y))
    return np.rint(y).astype(np.uint8)


# -- grayscale pipeline -----------------------------------------------------------------


def test_rescale_then_window_from_the_query() -> None:
    ds = _read("CT_small.dcm")
    hounsfield = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    for center, width in [(40.0, 80.0), (40.0, 2000.0), (-600.0, 1500.0)]:
        assert np.array_equal(_png(ds, window=(center, width)),
                              _linear_window(hounsfield, center, width))


def test_different_windows_give_different_pixels() -> None:
    ds = _read("CT_small.dcm")
    assert not np.array_equal(_png(ds, window=(40, 80)), _png(ds, window=(40, 2000)))


def test_header_window_is_used_when_the_query_has_none() -> None:
    ds = _read("MR_small.dcm")
    header = (float(ds.WindowCenter), float(ds.WindowWidth))
    assert np.array_equal(_png(ds), _png(ds, window=header))


def test_without_any_window_the_frame_range_is_stretched() -> None:
    ds = _read("CT_small.dcm")
    assert "WindowCenter" not in ds
    pixels = _png(ds)
    assert (pixels.min(), pixels.max()) == (0, 255)
    order = np.argsort(ds.pixel_array.ravel())
    assert np.all(np.diff(pixels.ravel()[order].astype(int)) >= 0)  # monotonic


def test_monochrome1_is_the_inverse_of_monochrome2() -> None:
    mono2 = _read("MR_small.dcm")
    mono1 = copy.deepcopy(mono2)
    mono1.PhotometricInterpretation = "MONOCHROME1"
    assert np.array_equal(_png(mono1), 255 - _png(mono2))


def test_a_real_monochrome1_radiograph_shows_low_values_white() -> None:
    ds = _read("RG3_J2KI.dcm")
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    stored = ds.pixel_array
    pixels = _png(ds)
    assert pixels[np.unravel_index(np.argmin(stored), stored.shape)] == 255
    assert pixels[np.unravel_index(np.argmax(stored), stored.shape)] == pixels.min() < 20


def test_enhanced_multiframe_uses_its_functional_groups() -> None:
    ds = _read("eCT_Supplemental.dcm")
    shared = ds.SharedFunctionalGroupsSequence[0]
    voi = shared.FrameVOILUTSequence[0]
    rescale = shared.PixelValueTransformationSequence[0]
    assert "RescaleIntercept" not in ds and "WindowCenter" not in ds
    frame = ds.pixel_array[1] * float(rescale.RescaleSlope) + float(rescale.RescaleIntercept)
    expected = _linear_window(frame, float(voi.WindowCenter), float(voi.WindowWidth))
    assert np.array_equal(_png(ds, 2), expected)


def test_voi_lut_sequence_is_applied() -> None:
    ds = _read("vlut_04.dcm")
    lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
    mapped = apply_voi_lut(ds.pixel_array, ds).astype(np.float64)
    expected = np.rint((mapped - lut.min()) / (lut.max() - lut.min()) * 255).astype(np.uint8)
    assert np.array_equal(_png(ds), expected)


@pytest.mark.parametrize("function", ["SIGMOID", "LINEAR_EXACT", "linear"])
def test_voi_functions(function: str) -> None:
    ds = _read("CT_small.dcm")
    shaped = _png(ds, window=(40, 400), window_function=function)
    assert shaped.shape == (128, 128)
    if function != "linear":
        assert not np.array_equal(shaped, _png(ds, window=(40, 400)))


# -- frames -----------------------------------------------------------------------------


def test_frames_of_a_multiframe_instance() -> None:
    ds = _read("emri_small_RLE.dcm")
    assert number_of_frames(ds) == 10
    first, third = _png(ds, 1), _png(ds, 3)
    assert not np.array_equal(first, third)
    frame = ds.pixel_array[2].astype(np.float64)
    expected = np.rint((frame - frame.min()) / (frame.max() - frame.min()) * 255)
    assert np.array_equal(third, expected.astype(np.uint8))


@pytest.mark.parametrize("frame", [0, 11, -1])
def test_a_frame_that_does_not_exist_is_404(frame: int) -> None:
    with pytest.raises(NotFoundError, match="10 frame") as caught:
        render_frame(_read("emri_small.dcm"), frame, "image/png")
    assert caught.value.http_status == 404


# -- colour -----------------------------------------------------------------------------


def test_rgb_is_rendered_as_is() -> None:
    ds = _read("SC_rgb.dcm")
    assert np.array_equal(_png(ds), ds.pixel_array)


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "SC_ybr_full_uncompressed.dcm",
                                  "SC_rgb_16bit.dcm", "US1_J2KR.dcm"])
def test_ybr_and_wide_rgb_become_8_bit_rgb(name: str) -> None:
    pixels = _png(_read(name))
    assert pixels.dtype == np.uint8 and pixels.shape[2] == 3
    if name.startswith("SC_"):  # the same colour bars as SC_rgb.dcm
        reference = _read("SC_rgb.dcm").pixel_array.astype(int)
        assert np.abs(pixels.astype(int) - reference).mean() < 2


def test_window_does_not_change_a_colour_image() -> None:
    ds = _read("SC_rgb.dcm")
    assert np.array_equal(_png(ds, window=(10, 20)), _png(ds))


def test_palette_colour_goes_through_its_lookup_tables() -> None:
    ds = _read("OBXXXX1A.dcm")
    rgb = apply_color_lut(ds.pixel_array, ds)
    expected = np.rint(rgb * (255 / 65535)).astype(np.uint8) if rgb.dtype != np.uint8 else rgb
    assert np.array_equal(_png(ds), expected)


# -- size and encoding ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "viewport", "size"), [
    ("CT_small.dcm", (200, 100), (100, 100)),
    ("CT_small.dcm", (256, 512), (256, 256)),
    ("US1_J2KR.dcm", (100, 100), (100, 75)),
    ("US1_J2KR.dcm", (64, 64), (64, 48)),
])
def test_viewport_fits_and_keeps_the_aspect_ratio(name: str, viewport: tuple[int, int],
                                                  size: tuple[int, int]) -> None:
    data = render_frame(_read(name), 1, "image/jpeg", viewport=viewport)
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("JPEG", size)


def test_jpeg_quality_changes_the_size() -> None:
    ds = _read("CT_small.dcm")
    assert len(render_frame(ds, 1, "image/jpeg", quality=10)) < len(
        render_frame(ds, 1, "image/jpeg", quality=95))


def test_thumbnails_shrink_but_never_enlarge() -> None:
    large = Image.open(io.BytesIO(thumbnail(_read("US1_J2KR.dcm"), "image/png", size=128)))
    assert large.size == (128, 96)
    small = Image.open(io.BytesIO(thumbnail(_read("emri_small.dcm"), "image/jpeg", frame=4)))
    assert (small.format, small.size) == ("JPEG", (64, 64))


def test_frame_image_modes() -> None:
    assert frame_image(_read("CT_small.dcm")).mode == "L"
    assert frame_image(_read("SC_rgb.dcm")).mode == "RGB"


# -- refusals ---------------------------------------------------------------------------


def test_an_instance_without_pixels_is_406() -> None:
    with pytest.raises(NotAcceptableError, match="no pixel data") as caught:
        render_frame(_read("rtplan.dcm"), 1, "image/png")
    assert caught.value.http_status == 406


@pytest.mark.parametrize(("options", "error"), [
    ({"media_type": "image/gif"}, NotAcceptableError),
    ({"quality": 0}, InvalidInputError),
    ({"quality": 101}, InvalidInputError),
    ({"window": (40, 0)}, InvalidInputError),
    ({"window": (40, 80), "window_function": "CUBIC"}, InvalidInputError),
    ({"viewport": (0, 10)}, InvalidInputError),
])
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    arguments: dict[str, object] = {"media_type": "image/jpeg", **options}
    with pytest.raises(error):
        render_frame(_read("CT_small.dcm"), 1, **arguments)  # type: ignore[arg-type]
