"""The presentation contexts the DIMSE door accepts and proposes (its conformance table).

Storage: every storage SOP class pynetdicom and pydicom know
(``AllStoragePresentationContexts`` and pydicom's UID dictionary), in every
transfer syntax of
:data:`STORAGE_TRANSFER_SYNTAXES`: what is received is archived as received
(the storage policy may compress it later, docs/codecs.md). Query/retrieve:
Patient Root and Study Root C-FIND, C-MOVE and C-GET; Verification; Storage
Commitment Push Model. docs/dimse.md prints this as a conformance table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydicom._uid_dict import UID_dictionary
from pydicom.uid import UID
from pynetdicom import AllStoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext

from dicomvault.codecs import syntaxes

#: What C-STORE accepts: uncompressed, deflated and every compressed syntax the codecs read.
STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    syntaxes.EXPLICIT_VR_LITTLE_ENDIAN,
    syntaxes.IMPLICIT_VR_LITTLE_ENDIAN,
    syntaxes.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    syntaxes.EXPLICIT_VR_BIG_ENDIAN,
    syntaxes.JPEG_BASELINE,
    syntaxes.JPEG_EXTENDED,
    syntaxes.JPEG_LOSSLESS,
    syntaxes.JPEG_LOSSLESS_SV1,
    syntaxes.JPEG_LS_LOSSLESS,
    syntaxes.JPEG_LS_NEAR_LOSSLESS,
    syntaxes.JPEG_2000_LOSSLESS,
    syntaxes.JPEG_2000,
    syntaxes.HTJ2K_LOSSLESS,
    syntaxes.HTJ2K_LOSSLESS_RPCL,
    syntaxes.HTJ2K,
    syntaxes.RLE_LOSSLESS,
)
#: Uncompressed syntaxes every peer accepts (the fallback of a retrieve).
NATIVE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    syntaxes.EXPLICIT_VR_LITTLE_ENDIAN,
    syntaxes.IMPLICIT_VR_LITTLE_ENDIAN,
)

# SOP classes by UID (PS3.4 Annex B, C, J; pynetdicom's sop_class has no type stubs for them).
Verification = "1.2.840.10008.1.1"
PatientRootQueryRetrieveInformationModelFind = "1.2.840.10008.5.1.4.1.2.1.1"
PatientRootQueryRetrieveInformationModelMove = "1.2.840.10008.5.1.4.1.2.1.2"
PatientRootQueryRetrieveInformationModelGet = "1.2.840.10008.5.1.4.1.2.1.3"
StudyRootQueryRetrieveInformationModelFind = "1.2.840.10008.5.1.4.1.2.2.1"
StudyRootQueryRetrieveInformationModelMove = "1.2.840.10008.5.1.4.1.2.2.2"
StudyRootQueryRetrieveInformationModelGet = "1.2.840.10008.5.1.4.1.2.2.3"
StorageCommitmentPushModel = "1.2.840.10008.1.20.1"



def _storage_sop_classes() -> tuple[str, ...]:
    """pynetdicom's storage SOP classes and every other non-retired "... Storage" SOP class
    in pydicom's UID dictionary (pydicom may know newer ones), the DICOMDIR excepted."""
    known = [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]
    for uid, (name, kind, _, retired, _) in UID_dictionary.items():
        if (kind == "SOP Class" and name.endswith(" Storage") and not retired
                and name != "Media Storage Directory Storage"):
            known.append(uid)
    return tuple(dict.fromkeys(known))


STORAGE_SOP_CLASSES: tuple[str, ...] = _storage_sop_classes()
FIND_MODELS: tuple[str, ...] = (PatientRootQueryRetrieveInformationModelFind,
                                StudyRootQueryRetrieveInformationModelFind)
MOVE_MODELS: tuple[str, ...] = (PatientRootQueryRetrieveInformationModelMove,
                                StudyRootQueryRetrieveInformationModelMove)
GET_MODELS: tuple[str, ...] = (PatientRootQueryRetrieveInformationModelGet,
                               StudyRootQueryRetrieveInformationModelGet)
PATIENT_ROOT_MODELS = frozenset({PatientRootQueryRetrieveInformationModelFind,
                                 PatientRootQueryRetrieveInformationModelMove,
                                 PatientRootQueryRetrieveInformationModelGet})
STORAGE_COMMITMENT = StorageCommitmentPushModel


def supported_contexts() -> list[PresentationContext]:
    """Every context the SCP accepts. Storage contexts accept both roles so that a C-GET
    requestor's SCP/SCU role selection (PS3.7 D.3.3.4) is agreed."""
    native = [*NATIVE_TRANSFER_SYNTAXES, syntaxes.EXPLICIT_VR_BIG_ENDIAN]
    contexts = [build_context(Verification, native)]
    for uid in (*FIND_MODELS, *MOVE_MODELS, *GET_MODELS, STORAGE_COMMITMENT):
        contexts.append(build_context(uid, native))
    for uid in STORAGE_SOP_CLASSES:
        cx = build_context(uid, list(STORAGE_TRANSFER_SYNTAXES))
        cx.scu_role = True
        cx.scp_role = True
        contexts.append(cx)
    return contexts


def sub_operation_contexts(wanted: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """Contexts a C-MOVE proposes to its destination for (SOP class, stored syntax) pairs:
    per SOP class one context in the stored syntax (nothing to decode if accepted) and
    one in the uncompressed syntaxes (the fallback). At most 128 (PS3.8 9.3.2.2)."""
    contexts: list[PresentationContext] = []
    seen: set[tuple[str, str]] = set()
    for sop_class, stored in wanted:
        for offered in ((stored,), NATIVE_TRANSFER_SYNTAXES):
            key = (sop_class, ",".join(offered))
            if key in seen or (len(offered) == 1 and offered[0] in NATIVE_TRANSFER_SYNTAXES):
                continue
            seen.add(key)
            contexts.append(build_context(sop_class, list(offered)))
    return contexts[:128]


def choose_syntax(accepted: Sequence[PresentationContext], sop_class: str,
                  stored: str) -> str | None:
    """The transfer syntax to send an instance in over an association whose peer
    ``accepted`` these contexts (as SCP of the storage): the stored one if possible,
    else the first uncompressed one accepted; ``None`` if the SOP class was refused."""
    offered: list[str] = []
    for cx in accepted:
        if cx.abstract_syntax == sop_class:
            offered.extend(str(ts) for ts in cx.transfer_syntax)
    if stored in offered:
        return stored
    for ts in offered:
        if ts in NATIVE_TRANSFER_SYNTAXES or UID(ts) == syntaxes.EXPLICIT_VR_BIG_ENDIAN:
            return ts
    return offered[0] if offered else None
