"""Media types and content negotiation for DICOMweb (PS3.18 8.7).

``Content-Type`` and ``Accept`` follow RFC 9110 (8.3 and 12.5.1): a media
type with ``;``-separated parameters whose values may be quoted strings, and
for ``Accept`` a ``,``-separated list of media ranges weighted by ``q``. On
top of that DICOMweb adds two parameters (PS3.18 8.7.3 and 8.7.4):

* ``type`` on ``multipart/related`` names the media type of every part
  (RFC 2387), e.g. ``multipart/related; type="application/dicom"``;
* ``transfer-syntax`` names the Transfer Syntax UID of a DICOM or pixel
  representation, ``*`` meaning "any, as stored".

Negotiation picks, among the representations the server can produce
(:class:`Offer`), the one the client weights highest. As in RFC 9110 12.5.1
the most specific media range that matches an offer gives its weight, so
``multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50;q=0``
excludes JPEG Baseline even next to a wildcard. Equal weights are settled by
the server's order of offers. A range that cannot be parsed is ignored (RFC
9110 asks recipients to be lenient with Accept), and an Accept header that
matches nothing raises :class:`~dicomvault.errors.NotAcceptableError` (406).

When a range names a media type but no ``transfer-syntax``:

* ``application/dicom`` and ``application/octet-stream`` mean Explicit VR
  Little Endian (PS3.18 8.7.3.5.2: the default transfer syntax);
* a compressed pixel media type (``image/jp2`` ...) matches any transfer
  syntax of that media type (PS3.18 Table 8.7.3-5). The standard names one
  default per media type; accepting its siblings too lets a client that asks
  for ``image/jpeg`` receive a JPEG Lossless frame without decoding.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydicom.uid import UID

from dicomvault.errors import NotAcceptableError, UnsupportedMediaTypeError

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
ANY_TRANSFER_SYNTAX = "*"
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET_STREAM = "application/octet-stream"
MULTIPART_RELATED = "multipart/related"

# PS3.18 Table 8.7.3-5: media types of compressed pixel data (frames and bulk
# data) and the transfer syntaxes whose bitstream each carries.
PIXEL_MEDIA_TYPES: Mapping[str, str] = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.4.110": "image/jxl",
    "1.2.840.10008.1.2.4.111": "image/jxl",
    "1.2.840.10008.1.2.4.112": "image/jxl",
}
# Media types whose transfer syntax, when the client names none, is fixed.
_DEFAULT_SYNTAX: Mapping[str, str] = {
    DICOM: EXPLICIT_VR_LITTLE_ENDIAN,
    OCTET_STREAM: EXPLICIT_VR_LITTLE_ENDIAN,
}
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class MediaType:
    """A parsed media type: ``type`` is ``"main/sub"`` lower-cased; parameter
    names are lower-cased, values unquoted and kept as sent (a boundary is
    case-sensitive)."""

    type: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")

    @property
    def part_type(self) -> str | None:
        """The ``type`` parameter of a multipart media type, lower-cased."""
        value = self.params.get("type")
        return value.strip().lower() if value else None

    def __str__(self) -> str:
        return self.type + "".join(f"; {k}={_quote(v)}" for k, v in self.params.items())


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One element of an Accept header: a media type (maybe ``*``) and its weight."""

    media: MediaType
    q: float

    @property
    def specificity(self) -> tuple[int, int]:
        """RFC 9110 12.5.1 precedence: concrete type beats ``x/*`` beats ``*/*``,
        then more parameters beat fewer, a wildcard value (``transfer-syntax=*``,
        ``type="image/*"``) counting for none."""
        main, _, sub = self.media.type.partition("/")
        level = 0 if main == "*" else 1 if sub == "*" else 2
        concrete = sum(1 for value in self.media.params.values() if not value.endswith("*"))
        return level, concrete


@dataclass(frozen=True, slots=True)
class Offer:
    """A representation the server can produce.

    ``media_type`` is what one body part (or the whole body) holds; with
    ``multipart`` the response is ``multipart/related; type=<media_type>``.
    ``transfer_syntax`` is ``None`` for representations that have none
    (JSON, rendered images).
    """

    media_type: str
    transfer_syntax: str | None = None
    multipart: bool = False


@dataclass(frozen=True, slots=True)
class Chosen:
    """The offer negotiation picked, and the weight the client gave it."""

    offer: Offer
    q: float

    @property
    def media_type(self) -> str:
        return self.offer.media_type

    @property
    def transfer_syntax(self) -> str | None:
        return self.offer.transfer_syntax

    @property
    def part_content_type(self) -> str:
        """Content-Type of one part (or of the body, if not multipart)."""
        if self.offer.transfer_syntax is None:
            return self.offer.media_type
        return f"{self.offer.media_type}; transfer-syntax={self.offer.transfer_syntax}"


# -- parsing ----------------------------------------------------------------------------


def _quote(value: str) -> str:
    if value and all(c in _TOKEN_CHARS for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside quoted strings (RFC 9110 5.6.4)."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise ValueError("unterminated quoted string")
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if char == "\\" and not escaped:
                escaped = True
                continue
            out.append(char)
            escaped = False
        return "".join(out)
    return value


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _parse_media(text: str) -> tuple[MediaType, list[tuple[str, str]]]:
    """Media type and its parameters in order (``q`` and after included)."""
    head, *raw_params = _split(text, ";")
    main, slash, sub = head.strip().lower().partition("/")
    if not slash or not _is_token(main) or not _is_token(sub):
        raise ValueError(f"not a media type: {head.strip()[:60]!r}")
    params: list[tuple[str, str]] = []
    for raw in raw_params:
        if not raw.strip():
            continue
        name, equals, value = raw.partition("=")
        name = name.strip().lower()
        if not equals or not _is_token(name):
            raise ValueError(f"malformed parameter {raw.strip()[:60]!r}")
        params.append((name, _unquote(value.strip())))
    return MediaType(f"{main}/{sub}", dict(params)), params


def parse_content_type(header: str) -> MediaType:
    """Parse a Content-Type header; 415 if it is not a media type at all."""
    try:
        media, _ = _parse_media(header)
    except ValueError as exc:
        raise UnsupportedMediaTypeError(f"Content-Type cannot be parsed: {exc}") from exc
    if "*" in media.type:
        raise UnsupportedMediaTypeError("Content-Type must not contain a wildcard")
    return media


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges of an Accept header, highest weight first (stable).

    An absent or empty header means ``*/*`` (RFC 9110 12.5.1). Parameters
    after ``q`` are accept-extensions and are dropped; ranges that cannot be
    parsed, or whose ``q`` is not a number from 0 to 1, are skipped.
    """
    if header is None or not header.strip():
        return [MediaRange(MediaType("*/*"), 1.0)]
    try:
        elements = _split(header, ",")
    except ValueError:
        return []
    ranges: list[MediaRange] = []
    for element in elements:
        if not element.strip():
            continue
        try:
            media, params = _parse_media(element)
        except ValueError:
            continue
        q = 1.0
        kept: dict[str, str] = {}
        for name, value in params:
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
                break
            kept[name] = value
        if not 0.0 <= q <= 1.0:
            continue
        ranges.append(MediaRange(MediaType(media.type, kept), q))
    ranges.sort(key=lambda r: -r.q)
    return ranges


# -- matching ---------------------------------------------------------------------------


def _type_matches(pattern: str, concrete: str) -> bool:
    if pattern == "*/*":
        return True
    main, _, sub = pattern.partition("/")
    if sub == "*":
        return concrete.partition("/")[0] == main
    return pattern == concrete


def _syntax_matches(requested: str | None, media_type: str, offered: str | None) -> bool:
    if offered is None or requested == ANY_TRANSFER_SYNTAX:
        return True
    if requested is not None:
        return requested == offered
    return _DEFAULT_SYNTAX.get(media_type, offered) == offered


def _matches(media: MediaType, offer: Offer) -> bool:
    """Does one media range cover one offer (PS3.18 8.7.4)?"""
    if offer.multipart:
        if not _type_matches(media.type, MULTIPART_RELATED):
            return False
        part = media.part_type if media.type == MULTIPART_RELATED else None
        if part is not None and not _type_matches(part, offer.media_type):
            return False
    elif not _type_matches(media.type, offer.media_type):
        return False
    return _syntax_matches(media.transfer_syntax, offer.media_type, offer.transfer_syntax)


def quality(ranges: Sequence[MediaRange], offer: Offer) -> float:
    """The weight the client gives ``offer``: that of the most specific matching range."""
    best: MediaRange | None = None
    for media_range in ranges:
        if _matches(media_range.media, offer) and (
            best is None or media_range.specificity > best.specificity
        ):
            best = media_range
    return best.q if best is not None else 0.0


def negotiate(accept_header: str | None, offers: Sequence[Offer]) -> Chosen:
    """Pick the offer the client weights highest; ties go to the earlier offer.

    Raises NotAcceptableError (406, PS3.18 8.7.3) naming what could be served.
    """
    ranges = parse_accept(accept_header)
    best: Chosen | None = None
    for offer in offers:
        q = quality(ranges, offer)
        if q > 0 and (best is None or q > best.q):
            best = Chosen(offer, q)
    if best is None:
        served = ", ".join(sorted({_describe(o) for o in offers}))
        raise NotAcceptableError(f"the Accept header allows none of: {served}")
    return best


def _describe(offer: Offer) -> str:
    text = f'{MULTIPART_RELATED}; type="{offer.media_type}"' if offer.multipart \
        else offer.media_type
    if offer.transfer_syntax is not None:
        text += f"; transfer-syntax={offer.transfer_syntax}"
    return text


# -- the DICOMweb resources -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstanceTarget:
    """What a client accepts for instances (``multipart/related; type="application/dicom"``).

    ``accepts(uid)`` says whether an instance stored in that transfer syntax
    may be sent as stored; otherwise it is transcoded to ``transfer_syntax``,
    the syntax the client weights highest (Explicit VR Little Endian when it
    names none or only ``*``; PS3.18 8.7.3.5.2).
    """

    ranges: tuple[MediaRange, ...]
    transfer_syntax: str

    def accepts(self, transfer_syntax: str) -> bool:
        return quality(self.ranges, Offer(DICOM, transfer_syntax, multipart=True)) > 0


def negotiate_instances(accept_header: str | None) -> InstanceTarget:
    """Negotiate a WADO-RS instance retrieve (PS3.18 10.4.1.1.1)."""
    ranges = tuple(parse_accept(accept_header))
    candidates = [EXPLICIT_VR_LITTLE_ENDIAN]
    for media_range in ranges:
        named = media_range.media.transfer_syntax
        if named is not None and named != ANY_TRANSFER_SYNTAX and named not in candidates:
            candidates.append(named)
    weighted = [(quality(ranges, Offer(DICOM, uid, multipart=True)), -i, uid)
                for i, uid in enumerate(candidates)]
    q, _, chosen = max(weighted)
    if q <= 0:
        raise NotAcceptableError(
            'instances are served as multipart/related; type="application/dicom"; '
            "the Accept header allows no transfer syntax of it")
    return InstanceTarget(ranges, chosen)


@dataclass(frozen=True, slots=True)
class FrameChoice:
    """How frames (or pixel bulk data) are sent (PS3.18 10.4.1.1.3, 8.7.3).

    ``compressed`` means the stored encapsulated bitstream is sent as is;
    otherwise frames are decoded and sent as native little-endian pixels.
    """

    media_type: str
    transfer_syntax: str
    compressed: bool

    @property
    def part_content_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


def negotiate_frames(accept_header: str | None, stored_transfer_syntax: str) -> FrameChoice:
    """Choose between the stored compressed bitstream and decoded native pixels.

    Offers, in the server's order of preference: the stored bitstream in its
    own media type (Table 8.7.3-5), the stored bitstream as
    ``application/octet-stream`` (only for ``transfer-syntax=*`` or the stored
    UID named explicitly), then decoded pixels as ``application/octet-stream``
    in Explicit VR Little Endian. Frames are not re-encoded into another
    compressed syntax: asking for one is 406.
    """
    offers: list[Offer] = []
    if UID(stored_transfer_syntax).is_encapsulated:
        own_type = PIXEL_MEDIA_TYPES.get(stored_transfer_syntax)
        if own_type is not None:
            offers.append(Offer(own_type, stored_transfer_syntax, multipart=True))
        offers.append(Offer(OCTET_STREAM, stored_transfer_syntax, multipart=True))
    offers.append(Offer(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, multipart=True))
    chosen = negotiate(accept_header, offers)
    syntax = chosen.offer.transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN
    return FrameChoice(chosen.media_type, syntax,
                       compressed=syntax == stored_transfer_syntax
                       and UID(stored_transfer_syntax).is_encapsulated)


BULKDATA_OFFERS = (Offer(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, multipart=True),)
METADATA_OFFERS = (Offer(DICOM_JSON), Offer("application/json"))
RENDERED_OFFERS = (Offer("image/jpeg"), Offer("image/png"))


def negotiate_bulkdata(accept_header: str | None) -> Chosen:
    """Bulk data is ``multipart/related; type="application/octet-stream"`` (PS3.18 10.4.1.1.5)."""
    return negotiate(accept_header, BULKDATA_OFFERS)


def require_json_acceptable(accept_header: str | None) -> str:
    """For QIDO-RS results and WADO-RS metadata: ``application/dicom+json``, or
    ``application/json`` which PS3.18 8.7.3 lets clients use for it."""
    return negotiate(accept_header, METADATA_OFFERS).media_type


def negotiate_rendered(accept_header: str | None) -> str:
    """``image/jpeg`` (the default, PS3.18 8.7.3.4) or ``image/png`` for rendered resources."""
    return negotiate(accept_header, RENDERED_OFFERS).media_type


def new_boundary() -> str:
    """A fresh multipart boundary: 32 random hex digits (RFC 2046 5.1.1 allows 70).

    128 random bits make it practically impossible for the boundary to occur
    inside a part, so writers need not scan the data for it.
    """
    return secrets.token_hex(16)


def multipart_content_type(part_type: str, boundary: str) -> str:
    """``multipart/related; type="<part_type>"; boundary=<boundary>`` (RFC 2387)."""
    return f'{MULTIPART_RELATED}; type="{part_type}"; boundary={_quote(boundary)}'
