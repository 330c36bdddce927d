"""The presentation contexts: every storage SOP class accepted in every syntax, and the
syntax a retrieve picks from what the peer accepted."""

from __future__ import annotations

from pydicom._uid_dict import UID_dictionary
from pynetdicom import build_context

from dicomvault.codecs import syntaxes
from dicomvault.dimse.contexts import (
    STORAGE_TRANSFER_SYNTAXES,
    choose_syntax,
    sub_operation_contexts,
    supported_contexts,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_every_storage_sop_class_pydicom_knows_is_accepted_in_every_syntax() -> None:
    contexts = {str(cx.abstract_syntax): cx for cx in supported_contexts()}
    storage = [uid for uid, (name, kind, _, retired, _) in UID_dictionary.items()
               if kind == "SOP Class" and name.endswith(" Storage") and not retired
               and name != "Media Storage Directory Storage"]
    assert len(storage) > 150
    for uid in storage:
        assert [str(ts) for ts in contexts[uid].transfer_syntax] == list(
            STORAGE_TRANSFER_SYNTAXES), uid
        assert contexts[uid].scu_role and contexts[uid].scp_role  # C-GET role selection
    assert {syntaxes.HTJ2K, syntaxes.JPEG_LS_NEAR_LOSSLESS, syntaxes.RLE_LOSSLESS,
            syntaxes.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN} <= set(STORAGE_TRANSFER_SYNTAXES)


def _accepted(*transfer_syntaxes: str) -> list:  # type: ignore[type-arg]
    return [build_context(CT, [ts]) for ts in transfer_syntaxes]


def test_a_retrieve_sends_as_received_else_uncompressed() -> None:
    j2k = syntaxes.JPEG_2000_LOSSLESS
    assert choose_syntax(_accepted(j2k, syntaxes.EXPLICIT_VR_LITTLE_ENDIAN), CT, j2k) == j2k
    assert choose_syntax(_accepted(syntaxes.IMPLICIT_VR_LITTLE_ENDIAN), CT, j2k) == (
        syntaxes.IMPLICIT_VR_LITTLE_ENDIAN)
    assert choose_syntax(_accepted(j2k), "1.2.840.10008.5.1.4.1.1.4", j2k) is None
    proposed = sub_operation_contexts([(CT, j2k), (CT, j2k),
                                       (CT, syntaxes.EXPLICIT_VR_LITTLE_ENDIAN)])
    assert [[str(ts) for ts in cx.transfer_syntax] for cx in proposed] == [
        [j2k], [syntaxes.EXPLICIT_VR_LITTLE_ENDIAN, syntaxes.IMPLICIT_VR_LITTLE_ENDIAN]]
