"""Content hashes, reference hashes, event IDs and v12 room IDs.

server-server-api.md "Calculating the content hash for an event", "Calculating the
reference hash for an event"; rooms/fragments/v3-, v4-event-ids.md; appendices.md "Room IDs".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .canonical import decode_base64, encode_base64, encode_canonical_json
from .constants import CREATE
from .errors import EventFormatError
from .pdu import Event
from .redaction import redact_event
from .room_versions import EventIdFormat, RoomVersion


def compute_content_hash(event: Event) -> bytes:
    """SHA-256 of the canonical JSON of the event without unsigned, signatures and hashes."""
    stripped = {k: v for k, v in event.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(encode_canonical_json(stripped)).digest()


def with_content_hash(event: Event) -> dict[str, Any]:
    """A copy of ``event`` with ``hashes`` set to its content hash (any other hash dropped)."""
    hashed = dict(event)
    hashed["hashes"] = {"sha256": encode_base64(compute_content_hash(event))}
    return hashed


def content_hash_matches(event: Event) -> bool:
    """Whether ``hashes.sha256`` matches the content hash (false when absent or malformed)."""
    hashes = event.get("hashes")
    expected = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    if not isinstance(expected, str):
        return False
    try:
        return decode_base64(expected) == compute_content_hash(event)
    except ValueError:
        return False


def compute_reference_hash(room_version: RoomVersion, event: Event) -> bytes:
    """SHA-256 of the canonical JSON of the redacted event without signatures and unsigned."""
    redacted = redact_event(room_version, event)
    redacted.pop("signatures", None)
    redacted.pop("unsigned", None)
    return hashlib.sha256(encode_canonical_json(redacted)).digest()


def compute_event_id(room_version: RoomVersion, event: Event) -> str:
    """The event's ID: its ``event_id`` in rooms 1-2, otherwise ``$`` + reference hash.

    Events of room version 3 and later must not carry an ``event_id`` key (it would be
    hashed like any other kept key).
    """
    if room_version.event_id_format is EventIdFormat.WITH_DOMAIN:
        event_id = event.get("event_id")
        if not isinstance(event_id, str):
            raise EventFormatError("events in room versions 1 and 2 need an event_id")
        return event_id
    urlsafe = room_version.event_id_format is EventIdFormat.REFERENCE_HASH_URLSAFE
    return "$" + encode_base64(compute_reference_hash(room_version, event), urlsafe=urlsafe)


def room_id_for_create_event(room_version: RoomVersion, create_event: Event) -> str:
    """rooms/v12.md: the room ID is the create event's event ID with sigil ``!``."""
    if not room_version.room_id_is_create_event_id:
        raise ValueError(f"room version {room_version.identifier} room IDs are not hashes")
    if create_event.get("type") != CREATE:
        raise ValueError("not an m.room.create event")
    return "!" + compute_event_id(room_version, create_event)[1:]
