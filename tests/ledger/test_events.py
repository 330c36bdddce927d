"""Ledger events: validation, canonical bytes, round trip; identifier hashing."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from dicomvault.ledger import EventType, IdentifierHasher, LedgerEvent
from dicomvault.ledger.events import DETAILS, DOORS, EventFormatError, utc_now

KEY = bytes(range(32))
SUBJECT = IdentifierHasher(KEY).subject("study", "1.2.840.113619.2.55.3")


def event(**overrides: object) -> LedgerEvent:
    fields: dict[str, object] = {
        "type": EventType.INSTANCE_STORED, "actor": "alice", "door": "DIMSE",
        "client": "10.0.0.7", "time": "2025-03-01T12:00:00.000001Z",
        "subjects": (SUBJECT,), "details": {"content_sha256": "ab" * 32, "size": 5, "lossy": False},
    }
    fields.update(overrides)
    return LedgerEvent(**fields)  # type: ignore[arg-type]


def test_serialises_to_canonical_json_with_schema_version() -> None:
    assert event().to_json() == (
        b'{"actor":"alice","client":"10.0.0.7","details":{"content_sha256":"'
        + b"ab" * 32 + b'","lossy":false,"size":5},"door":"DIMSE","subjects":["'
        + SUBJECT.encode() + b'"],"time":"2025-03-01T12:00:00.000001Z",'
        b'"type":"instance_stored","v":1}'
    )


def test_round_trips_through_bytes_and_is_immutable() -> None:
    original = event()
    again = LedgerEvent.from_json(original.to_json())
    assert again == original
    with pytest.raises(TypeError):
        original.details["size"] = 6  # type: ignore[index]


def test_every_event_type_and_door_is_accepted() -> None:
    assert len(EventType) == 21
    assert set(DETAILS) == set(EventType)  # every type documents its details
    for kind in EventType:
        for door in DOORS:
            assert LedgerEvent.from_json(event(type=kind, door=door).to_json()).type is kind


@pytest.mark.parametrize("overrides", [
    {"type": "instance_burned"},
    {"door": "carrier pigeon"},
    {"time": "2025-03-01 12:00:00"},
    {"time": "2025-03-01T12:00:00+01:00"},
    {"subjects": ("1.2.840.10008",)},  # a raw UID is PHI-adjacent: only keyed hashes
    {"subjects": (SUBJECT.upper(),)},
    {"subjects": (SUBJECT.partition(":")[2],)},  # untyped: the kind must be said
    {"details": {"ratio": 0.5}},
    {"details": {"nested": {"a": 1}}},
    {"version": 2},
])
def test_malformed_events_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(EventFormatError):
        event(**overrides)


def test_from_json_refuses_unknown_members_and_non_canonical_bytes() -> None:
    data = event().to_json()
    with pytest.raises(EventFormatError):
        LedgerEvent.from_json(data.replace(b'"v":1', b'"v":1,"x":1'))
    with pytest.raises(EventFormatError):
        LedgerEvent.from_json(data.replace(b'"actor":"alice",', b'"actor": "alice",'))
    with pytest.raises(EventFormatError):
        LedgerEvent.from_json(data.replace(b"instance_stored", b"instance_burned"))


def test_utc_now_is_accepted_as_event_time() -> None:
    assert event(time=utc_now()).time.endswith("Z")


def test_identifier_hash_is_hmac_of_kind_and_value() -> None:
    hasher = IdentifierHasher(KEY)
    expected = hmac.new(KEY, b"sop:1.2.3", hashlib.sha256).hexdigest()
    assert hasher.hash("sop", "1.2.3") == expected
    assert hasher.hash("study", "1.2.3") != expected  # kinds never collide
    assert IdentifierHasher(bytes(32)).hash("sop", "1.2.3") != expected  # keyed
    assert "1.2.3" not in repr(hasher) and KEY.hex() not in repr(hasher)


def test_identifier_hasher_refuses_short_keys_and_odd_kinds() -> None:
    with pytest.raises(ValueError, match="32"):
        IdentifierHasher(b"short")
    with pytest.raises(ValueError, match="kind"):
        IdentifierHasher(KEY).hash("study:x", "1")
