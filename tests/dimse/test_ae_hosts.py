"""An AE title bound to its hosts (``dimse_ae_hosts``) is refused when called from elsewhere.

AE titles are names any peer can claim; binding one to the addresses it calls
from is what Orthanc's DicomCheckModalityHost does. The peer here is always
127.0.0.1, so the binding either includes it or names another host.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pydicom
import pytest
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind
from tests.dimse.scu import associated, identifier, store
from tests.support.archive_data import all_locations
from tests.support.dicom_files import real_file
from tests.support.dimse import dimse_node

from dicomvault.dimse import Status

EXPLICIT = ["1.2.840.10008.1.2.1"]
FIND = StudyRootQueryRetrieveInformationModelFind


def test_bound_ae_title_calling_from_another_host_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ct = real_file("CT_small.dcm")
    hosts = {"CT_SCANNER": ["10.20.30.40"], "LOCAL_CT": ["127.0.0.0/8", "::1"]}
    with dimse_node(tmp_path / "n", dimse_ae_hosts=hosts) as node:
        with caplog.at_level(logging.WARNING, logger="dicomvault.dimse.session"), \
                associated(node, [(CTImageStorage, EXPLICIT), (FIND, EXPLICIT)],
                           calling="CT_SCANNER") as assoc:
            assert store(assoc, ct) == Status.NOT_AUTHORISED
            assert store(assoc, ct) == Status.NOT_AUTHORISED
            responses = list(assoc.send_c_find(identifier("STUDY", StudyInstanceUID=""), FIND))
            assert int(responses[-1][0].Status) == Status.NOT_AUTHORISED
        assert all_locations(node.archive) == []
        warnings = [r.getMessage() for r in caplog.records]
        assert warnings == ["DIMSE: AE title CT_SCANNER called from 127.0.0.1, not from its "
                            "configured hosts; every request refused"]  # once per association
        # The same AE title rules apply to AE titles bound to this host, and unbound ones.
        for calling in ("LOCAL_CT", "ANY_OTHER_AE"):
            with associated(node, [(CTImageStorage, EXPLICIT)], calling=calling) as assoc:
                assert store(assoc, ct) == Status.SUCCESS
        [location] = all_locations(node.archive)
        assert location.sop_instance_uid == pydicom.dcmread(io.BytesIO(ct)).SOPInstanceUID
