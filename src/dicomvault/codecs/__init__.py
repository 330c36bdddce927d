"""Transfer syntaxes: decoding frames, transcoding instances, lossless compression for storage.

Codecs come from maintained libraries (pydicom's handlers with pylibjpeg,
pyjpegls, imagecodecs with OpenJPH and CharLS); this package only decides
and orchestrates:

* :func:`can_transcode` / :func:`transcode`: serve an instance in the
  syntax a client accepts (WADO-RS, DIMSE);
* :func:`decode_frame`, :func:`native_frame`, :func:`encapsulated_frame`:
  one frame of a multi-frame instance without decoding the others;
* :func:`compress_original`: a compressed copy proven to give back the
  original file byte for byte (:func:`restore_original`), under the
  :class:`StoragePolicy` from the settings;
* :class:`ByteCache`: what retrieve keeps so that a series read twice is
  decoded once.
"""

from dicomvault.codecs.cache import ByteCache
from dicomvault.codecs.compress import CompressedCopy, Refusal, compress_original
from dicomvault.codecs.frames import (
    dataset_native_frame,
    decode_frame,
    encapsulated_frame,
    frame_bitstream,
    native_frame,
    transfer_syntax_of,
)
from dicomvault.codecs.original import OriginalLayout, restore_original
from dicomvault.codecs.pixels import PixelFormat, number_of_frames
from dicomvault.codecs.policy import Decision, StoragePolicy
from dicomvault.codecs.syntaxes import is_native, may_be_lossy, syntax_label, syntax_uid
from dicomvault.codecs.transcode import (
    can_decode,
    can_transcode,
    transcode,
    why_not_transcodable,
)

__all__ = [
    "ByteCache",
    "CompressedCopy",
    "Decision",
    "OriginalLayout",
    "PixelFormat",
    "Refusal",
    "StoragePolicy",
    "can_decode",
    "can_transcode",
    "compress_original",
    "dataset_native_frame",
    "decode_frame",
    "encapsulated_frame",
    "frame_bitstream",
    "is_native",
    "may_be_lossy",
    "native_frame",
    "number_of_frames",
    "restore_original",
    "syntax_label",
    "syntax_uid",
    "transcode",
    "transfer_syntax_of",
    "why_not_transcodable",
]
