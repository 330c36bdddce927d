"""dcmtk against the DIMSE door: echoscu, storescu, findscu, movescu (to storescp), getscu.

Each tool is Debian's (``/usr/bin``), run with ``TCP_NODELAY=1`` (shared/PEERS.md);
the assertions are on what each tool reported and on the files it received.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from tests.support.archive_data import contents
from tests.support.dicom_files import files_by_syntax
from tests.support.dimse import DCMTK_ENV, DimseNode, dcmtk, dimse_node
from tests.support.live import free_port

from dicomvault.codecs import syntaxes

#: storescu's option that proposes each compressed syntax (uncompressed ones are default).
PROPOSE = {
    syntaxes.JPEG_BASELINE: "-xy",
    syntaxes.JPEG_EXTENDED: "-xx",
    syntaxes.JPEG_LOSSLESS_SV1: "-xs",
    syntaxes.JPEG_LS_LOSSLESS: "-xt",
    syntaxes.RLE_LOSSLESS: "-xr",
    syntaxes.JPEG_2000_LOSSLESS: "-xv",
    syntaxes.JPEG_2000: "-xw",
    syntaxes.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: "-xd",
    syntaxes.EXPLICIT_VR_BIG_ENDIAN: "-xb",
}
#: Sent as a directory (``+sd``); storescu may convert between these two on its own.
UNCOMPRESSED = (syntaxes.EXPLICIT_VR_LITTLE_ENDIAN, syntaxes.IMPLICIT_VR_LITTLE_ENDIAN)


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([dcmtk(tool), *args], env={**os.environ, **DCMTK_ENV}, text=True,
                          capture_output=True, timeout=300, check=False)


def _uid(data: bytes, keyword: str = "SOPInstanceUID") -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).get(keyword))


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """dcmtk's storescp as the C-MOVE destination, writing what it receives to a directory."""
    port, out = free_port(), tmp_path / "storescp"
    out.mkdir()
    process = subprocess.Popen([dcmtk("storescp"), "-aet", "STORESCP", "-od", str(out),
                                "+xa", str(port)], env={**os.environ, **DCMTK_ENV},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield port, out
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def loaded(tmp_path: Path,
           storescp: tuple[int, Path]) -> Iterator[tuple[DimseNode, dict[str, bytes]]]:
    """A node that storescu filled with one real file per transfer syntax."""
    files = {ts: data for ts, data in files_by_syntax().items() if ts != syntaxes.HTJ2K_LOSSLESS}
    destinations = {"STORESCP": {"host": "127.0.0.1", "port": storescp[0]}}
    with dimse_node(tmp_path / "node", dimse_destinations=destinations) as node:
        plain = tmp_path / "uncompressed"
        plain.mkdir()
        for ts in UNCOMPRESSED:
            (plain / f"{_uid(files[ts])}.dcm").write_bytes(files[ts])
        done = _run("storescu", "-v", "+sd", "-aec", node.ae_title, "127.0.0.1", str(node.port),
                    str(plain))
        assert done.returncode == 0, done.stdout + done.stderr
        assert (done.stdout + done.stderr).count("Received Store Response (Success)") == 2
        for ts, option in PROPOSE.items():
            path = tmp_path / f"{ts}.dcm"
            path.write_bytes(files[ts])
            done = _run("storescu", "-v", option, "-aec", node.ae_title, "127.0.0.1",
                        str(node.port), str(path))
            assert done.returncode == 0, (ts, done.stdout + done.stderr)
            assert "Received Store Response (Success)" in done.stdout + done.stderr, ts
        yield node, files


def test_echoscu(tmp_path: Path) -> None:
    with dimse_node(tmp_path / "node") as node:
        done = _run("echoscu", "-v", "-aec", node.ae_title, "127.0.0.1", str(node.port))
    assert done.returncode == 0, done.stderr
    assert "Received Echo Response (Success)" in done.stdout + done.stderr


def test_storescu_every_syntax_then_findscu_at_every_level(
        loaded: tuple[DimseNode, dict[str, bytes]]) -> None:
    node, files = loaded
    archived = contents(node.archive)
    assert len(archived) == len(files)
    for ts, data in files.items():
        # dcmtk re-encodes what it reads (padding, group lengths): the archive keeps what
        # dcmtk sent (pynetdicom's test checks byte identity); the pixels are the file's own.
        stored = pydicom.dcmread(io.BytesIO(archived[_uid(data)]))
        expected = UNCOMPRESSED if ts in UNCOMPRESSED else (ts,)
        assert stored.file_meta.TransferSyntaxUID in expected, ts
        assert stored.PixelData == pydicom.dcmread(io.BytesIO(data)).PixelData, ts

    def find(*keys: str, root: str = "-S") -> list[str]:
        done = _run("findscu", "-v", root, "-aec", node.ae_title, "127.0.0.1", str(node.port),
                    *[arg for key in keys for arg in ("-k", key)])
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        return re.findall(r"Find Response: \d+ \(Pending\)", output)

    ct = files[syntaxes.EXPLICIT_VR_LITTLE_ENDIAN]
    patient_id = _uid(ct, "PatientID")
    assert len(find("QueryRetrieveLevel=PATIENT", f"PatientID={patient_id}", "PatientName",
                    root="-P")) == 1
    studies = {_uid(d, "StudyInstanceUID") for d in files.values()}
    assert len(find("QueryRetrieveLevel=STUDY", "StudyInstanceUID")) == len(studies)
    study = _uid(ct, "StudyInstanceUID")
    assert len(find("QueryRetrieveLevel=SERIES", f"StudyInstanceUID={study}",
                    "SeriesInstanceUID")) == 1
    assert len(find("QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={study}",
                    f"SeriesInstanceUID={_uid(ct, 'SeriesInstanceUID')}", "SOPInstanceUID")) == 1


def test_movescu_to_storescp_and_getscu(loaded: tuple[DimseNode, dict[str, bytes]],
                                        storescp: tuple[int, Path], tmp_path: Path) -> None:
    node, files = loaded
    ct = files[syntaxes.EXPLICIT_VR_LITTLE_ENDIAN]
    study = _uid(ct, "StudyInstanceUID")
    done = _run("movescu", "-v", "-S", "-aec", node.ae_title, "-aem", "STORESCP",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                "127.0.0.1", str(node.port))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Received Final Move Response (Success)" in done.stdout + done.stderr
    [received] = [pydicom.dcmread(p) for p in storescp[1].iterdir()]
    assert received.SOPInstanceUID == _uid(ct)
    assert received.PixelData == pydicom.dcmread(io.BytesIO(ct)).PixelData

    got = tmp_path / "getscu"
    got.mkdir()
    mr = files[syntaxes.IMPLICIT_VR_LITTLE_ENDIAN]
    done = _run("getscu", "-v", "-S", "-aec", node.ae_title, "-od", str(got),
                "-k", "QueryRetrieveLevel=IMAGE",
                "-k", f"StudyInstanceUID={_uid(mr, 'StudyInstanceUID')}",
                "-k", f"SeriesInstanceUID={_uid(mr, 'SeriesInstanceUID')}",
                "-k", f"SOPInstanceUID={_uid(mr)}", "127.0.0.1", str(node.port))
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = list(got.iterdir())
    assert pydicom.dcmread(path).SOPInstanceUID == _uid(mr)
    assert pydicom.dcmread(path).PixelData == pydicom.dcmread(io.BytesIO(mr)).PixelData
