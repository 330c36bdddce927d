"""Transfer syntaxes: decoding frames, transcoding instances, what may become what.

Codecs come from maintained libraries (pydicom's handlers with pylibjpeg,
pyjpegls, openjpeg); this package only decides and orchestrates.
"""

from dicomvault.codecs.frames import (
    decode_frame,
    encapsulated_frame,
    native_frame,
    number_of_frames,
    transfer_syntax_of,
)
from dicomvault.codecs.syntaxes import is_native, may_be_lossy
from dicomvault.codecs.transcode import can_decode, can_transcode, transcode

__all__ = [
    "can_decode",
    "can_transcode",
    "decode_frame",
    "encapsulated_frame",
    "is_native",
    "may_be_lossy",
    "native_frame",
    "number_of_frames",
    "transcode",
    "transfer_syntax_of",
]
