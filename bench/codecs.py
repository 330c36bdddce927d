"""Lossless codecs side by side, the storage policy's cost on ingest, and compressed retrieval.

What it measures (issue 6, "How it is checked" and "How good"), in one run:

1. **Codecs** on a 200-slice 512x512 CT series (``dicomvault.dicom.synthetic``),
   the large real MR (1024x1024) and CRs (1955x1841, 1760x1760) of
   ``pydicom-data`` and its real US RGB frame: for RLE, JPEG-LS, JPEG 2000,
   HTJ2K and HTJ2K RPCL, the compression ratio (pixel bytes / compressed
   bytes) and encode / decode MB/s of pixel data, through the very
   functions the archive uses (``dicomvault.codecs.bitstreams``); then
   whether the DEFAULT storage policy keeps at least 95 % of the bytes the
   best codec saves per modality.
2. **Ingest**: STOW-RS of the CT series (requests of 50) into a node with
   the default policy (compression left to the background worker), a node
   compressing on ingest, and Orthanc: instances/s and MB/s, and the cost of
   compression on ingest relative to the STOW-RS rate.
3. **Retrieve**: WADO-RS of the series, compressed, decoded back to
   Explicit VR Little Endian: cold (no cache: every frame decoded) and warm
   (second read, from the cache), against Orthanc serving the same series
   uncompressed.

Figures are medians of ``--runs`` runs. The machine is shared: compare the
columns of one run, not runs of different days.

    python -m bench.codecs                    # everything
    python -m bench.codecs --runs 1 --skip-http
    python -m bench.codecs --skip-orthanc
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pydicom
from pydicom.data import get_testdata_file

from bench.common import (
    RunningServer,
    dicomvault_node,
    median,
    orthanc_peer,
    print_command,
    stow_body,
)
from dicomvault.codecs import PixelFormat, StoragePolicy, bitstreams, compress_original
from dicomvault.codecs.syntaxes import (
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
    syntax_label,
)
from dicomvault.config import load_settings
from dicomvault.dicom.synthetic import generate_series, to_part10

SYNTAXES = [RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS,
            HTJ2K_LOSSLESS_RPCL]
#: The issue's "best of these": JPEG 2000, HTJ2K and JPEG-LS lossless.
CONTENDERS = [JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, HTJ2K_LOSSLESS]
BATCH = 50
DICOM = 'multipart/related; type="application/dicom"'
ELE = "1.2.840.10008.1.2.1"


@dataclass
class ImageSet:
    """Frames of one modality to run the codecs on."""

    label: str
    modality: str
    sop_class: str
    fmt: PixelFormat
    frames: list[bytes]
    files: list[bytes] = field(default_factory=list)

    @property
    def megabytes(self) -> float:
        return sum(len(f) for f in self.frames) / 1e6


def _image_set(label: str, files: Sequence[bytes]) -> ImageSet:
    first = pydicom.dcmread(io.BytesIO(files[0]))
    fmt = PixelFormat.of(first)
    frames = []
    for data in files:
        raw = pydicom.dcmread(io.BytesIO(data)).PixelData
        frames += [raw[i * fmt.frame_length:(i + 1) * fmt.frame_length]
                   for i in range(fmt.number_of_frames)]
    return ImageSet(label, str(first.Modality), str(first.SOPClassUID), fmt, frames,
                    list(files))


def image_sets(slices: int) -> list[ImageSet]:
    ct = [to_part10(ds) for ds in generate_series(count=slices, seed=42)]
    sets = [_image_set(f"CT {slices}x512x512 synthetic", ct)]
    for label, name in [("MR 1024x1024 (MR2_UNCR)", "MR2_UNCR.dcm"),
                        ("CR 1955x1841 (RG1_UNCR)", "RG1_UNCR.dcm"),
                        ("CR 1760x1760 (RG3_UNCR)", "RG3_UNCR.dcm"),
                        ("US 640x480 RGB (US1_UNCR)", "US1_UNCR.dcm")]:
        path = get_testdata_file(name)
        if path is None:
            raise SystemExit(f"{name} missing: pip install pydicom-data")
        sets.append(_image_set(label, [Path(str(path)).read_bytes()]))
    return sets


@dataclass
class CodecFigures:
    ratio: float
    encode_mbps: float
    decode_mbps: float


def _timed(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


def measure_codec(images: ImageSet, syntax: str, runs: int) -> CodecFigures:
    fmt = images.fmt
    arrays = [fmt.frame_array(frame) for frame in images.frames]
    encoded: list[bytes] = []

    def encode() -> None:
        encoded[:] = [bitstreams.encode_frame(syntax, array, fmt) for array in arrays]

    def decode() -> None:
        for bitstream in encoded:
            bitstreams.decode_frame(syntax, bitstream, decoded_fmt)

    encode_s = _timed(encode, runs)
    decoded_fmt = PixelFormat(fmt.rows, fmt.columns, fmt.samples_per_pixel, fmt.bits_allocated,
                              fmt.bits_stored, fmt.pixel_representation,
                              bitstreams.encoded_photometric(syntax, fmt))
    decode_s = _timed(decode, runs)
    for raw, bitstream in zip(images.frames[:3], encoded[:3], strict=False):
        assert fmt.frame_bytes(bitstreams.decode_frame(syntax, bitstream, decoded_fmt)) == raw
    raw_bytes = sum(len(f) for f in images.frames)
    return CodecFigures(raw_bytes / sum(len(e) for e in encoded),
                        images.megabytes / encode_s, images.megabytes / decode_s)


def codecs_table(sets: list[ImageSet], runs: int) -> dict[str, dict[str, CodecFigures]]:
    print("\n1. Codecs (pixel data; MB/s of uncompressed pixels; one thread)")
    print(f"{'images':28} {'syntax':22} {'ratio':>6} {'encode MB/s':>12} {'decode MB/s':>12}")
    results: dict[str, dict[str, CodecFigures]] = {}
    for images in sets:
        results[images.label] = {}
        for syntax in SYNTAXES:
            figures = measure_codec(images, syntax, runs)
            results[images.label][syntax] = figures
            print(f"{images.label:28} {syntax_label(syntax):22} {figures.ratio:6.2f} "
                  f"{figures.encode_mbps:12.1f} {figures.decode_mbps:12.1f}", flush=True)
    return results


def default_policy_check(sets: list[ImageSet],
                         results: dict[str, dict[str, CodecFigures]]) -> None:
    policy = StoragePolicy.from_settings(load_settings())
    print("\n   default policy against the best of JPEG-LS / JPEG 2000 / HTJ2K (issue: >= 95 %)")
    for images in sets:
        chosen = policy.decide(images.modality, images.sop_class).target
        saved = {s: 1 - 1 / results[images.label][s].ratio for s in CONTENDERS}
        best = max(saved, key=lambda s: saved[s])
        kept = (1 - 1 / results[images.label][chosen].ratio) / saved[best] if chosen else 0.0
        verdict = "ok" if kept >= 0.95 else "BELOW 95 %"
        print(f"   {images.label:28} default {syntax_label(chosen or 'keep'):18} best "
              f"{syntax_label(best):18} keeps {kept * 100:5.1f} % of the best saving  {verdict}")


def proof_cost(images: ImageSet, runs: int) -> None:
    """What compressing one stored file costs end to end (encode, Part 10, decode proof)."""
    policy = StoragePolicy.from_settings(load_settings())
    target = policy.decide(images.modality, images.sop_class).target or JPEG_LS_LOSSLESS
    files = images.files[:50]
    seconds = _timed(lambda: [compress_original(f, target) for f in files], runs)
    megabytes = sum(len(f) for f in files) / 1e6
    print(f"\n   compress_original ({syntax_label(target)}, with its bit-exact proof) on "
          f"{len(files)} {images.modality} files: {megabytes / seconds:.1f} MB/s")


# -- over HTTP -------------------------------------------------------------------------


def stow(server: RunningServer, files: Sequence[bytes]) -> float:
    with httpx.Client(timeout=600, headers=server.headers) as client:
        started = time.perf_counter()
        for offset in range(0, len(files), BATCH):
            body, content_type = stow_body(files[offset:offset + BATCH])
            response = client.post(f"{server.base_url}/studies", content=body,
                                   headers={"Content-Type": content_type,
                                            "Accept": "application/dicom+json"})
            if response.status_code != 200:
                raise RuntimeError(f"STOW answered {response.status_code}: {response.text[:300]}")
        return time.perf_counter() - started


def retrieve_series(server: RunningServer, url_path: str, accept: str) -> tuple[float, int]:
    with httpx.Client(timeout=600, headers=server.headers) as client:
        started = time.perf_counter()
        size = 0
        with client.stream("GET", server.base_url + url_path,
                           headers={"Accept": accept}) as response:
            if response.status_code != 200:
                raise RuntimeError(f"WADO answered {response.status_code}")
            for chunk in response.iter_bytes():
                size += len(chunk)
        return time.perf_counter() - started, size


def _node(**env: str) -> Callable[[], AbstractContextManager[RunningServer]]:
    # dimse=True: this branch's ``serve`` has no --no-dimse flag (the DIMSE door adds it).
    return lambda: dicomvault_node(dimse=True, extra_env={
        "DICOMVAULT_FSYNC": "true", **{f"DICOMVAULT_{k.upper()}": v for k, v in env.items()}})


@dataclass
class HttpFigures:
    stow_seconds: list[float] = field(default_factory=list)
    cold_mbps: list[float] = field(default_factory=list)
    warm_mbps: list[float] = field(default_factory=list)


def http_runs(files: list[bytes], series_path: str, runs: int,
              skip_orthanc: bool) -> dict[str, HttpFigures]:
    targets: dict[str, Callable[[], AbstractContextManager[RunningServer]]] = {
        "dicomvault default (background)": _node(),
        "dicomvault compress on ingest": _node(storage_compression_when="ingest"),
        "dicomvault on ingest, no cache": _node(storage_compression_when="ingest",
                                                transcode_cache_bytes="0"),
        "dicomvault HTJ2K on ingest, no cache": _node(storage_compression_when="ingest",
                                                      storage_compression="htj2k-lossless",
                                                      transcode_cache_bytes="0"),
    }
    if not skip_orthanc:
        targets["orthanc (uncompressed)"] = orthanc_peer
    figures = {name: HttpFigures() for name in targets}
    megabytes = sum(len(f) for f in files) / 1e6
    for run in range(runs):
        for name, start in targets.items():
            with start() as server:
                figures[name].stow_seconds.append(stow(server, files))
                accept = f"{DICOM}; transfer-syntax={ELE}" if "dicomvault" in name \
                    else f"{DICOM}; transfer-syntax=*"
                first, size = retrieve_series(server, series_path, accept)
                second, _ = retrieve_series(server, series_path, accept)
                figures[name].cold_mbps.append(size / 1e6 / first)
                figures[name].warm_mbps.append(size / 1e6 / second)
            print(f"   run {run + 1} {name}: STOW {megabytes / figures[name].stow_seconds[-1]:.1f}"
                  f" MB/s, WADO {figures[name].cold_mbps[-1]:.1f} / "
                  f"{figures[name].warm_mbps[-1]:.1f} MB/s", flush=True)
    return figures


def http_report(figures: dict[str, HttpFigures], files: list[bytes]) -> None:
    megabytes = sum(len(f) for f in files) / 1e6
    print(f"\n2./3. STOW-RS of {len(files)} CT instances ({megabytes:.0f} MB) and WADO-RS of "
          "the series (medians)")
    print(f"{'target':34} {'STOW inst/s':>12} {'STOW MB/s':>10} {'WADO 1st MB/s':>14} "
          f"{'WADO 2nd MB/s':>14}")
    for name, f in figures.items():
        seconds = median(f.stow_seconds)
        print(f"{name:34} {len(files) / seconds:12.1f} {megabytes / seconds:10.1f} "
              f"{median(f.cold_mbps):14.1f} {median(f.warm_mbps):14.1f}")
    plain = median(figures["dicomvault default (background)"].stow_seconds)
    ingest = median(figures["dicomvault compress on ingest"].stow_seconds)
    cost = 1 - plain / ingest
    print(f"\n   compression on ingest costs {cost * 100:.0f} % of the STOW-RS ingest rate "
          f"(issue: under 33 %): {'ok' if cost < 1 / 3 else 'too slow synchronously'}; "
          "the default compresses in the background worker instead, after ingest goes idle")
    peer = figures.get("orthanc (uncompressed)")
    if peer is not None:
        cold = median(figures["dicomvault on ingest, no cache"].cold_mbps)
        warm = median(figures["dicomvault compress on ingest"].warm_mbps)
        htj2k = median(figures["dicomvault HTJ2K on ingest, no cache"].cold_mbps)
        orthanc = median(peer.cold_mbps)
        print(f"   compressed series decoded to Explicit VR LE: {cold:.1f} MB/s without cache, "
              f"{warm:.1f} MB/s read again (x{cold / orthanc:.2f} / x{warm / orthanc:.2f} "
              f"Orthanc's {orthanc:.1f} MB/s uncompressed); stored as HTJ2K instead: "
              f"{htj2k:.1f} MB/s (x{htj2k / orthanc:.2f})")


def _series_path(files: list[bytes]) -> str:
    ds = pydicom.dcmread(io.BytesIO(files[0]), stop_before_pixels=True)
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--skip-http", action="store_true", help="codecs only")
    parser.add_argument("--skip-orthanc", action="store_true")
    args = parser.parse_args(argv)
    print_command()
    sets = image_sets(args.slices)
    results = codecs_table(sets, args.runs)
    default_policy_check(sets, results)
    proof_cost(sets[0], args.runs)
    if not args.skip_http:
        figures = http_runs(sets[0].files, _series_path(sets[0].files), args.runs,
                            args.skip_orthanc)
        http_report(figures, sets[0].files)


if __name__ == "__main__":
    main()
