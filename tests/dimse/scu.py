"""pynetdicom as the SCU of the tests: associations proposing exactly what a test needs."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context
from pynetdicom.association import Association
from tests.support.dimse import DimseNode


@contextmanager
def associated(node: DimseNode, contexts: Sequence[tuple[str, Sequence[str]]], *,
               calling: str = "MODALITY", port: int | None = None,
               **options: Any) -> Iterator[Association]:
    """An established association to ``node``, released (or aborted) afterwards."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    assoc = ae.associate("127.0.0.1", port or node.port, ae_title=node.ae_title,
                         contexts=[build_context(uid, list(ts)) for uid, ts in contexts],
                         **options)
    assert assoc.is_established, "association refused"
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def store(assoc: Association, data: bytes) -> int:
    """C-STORE one Part 10 file as it is; the status."""
    ds = pydicom.dcmread(io.BytesIO(data))
    return int(assoc.send_c_store(ds).Status)


def identifier(level: str, **keys: Any) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds
