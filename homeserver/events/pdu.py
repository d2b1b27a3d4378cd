"""Read-only accessors for PDUs held as plain dicts in federation format.

Every event in this package is the dict a server sends over federation: ``event_id`` is
present only in room versions 1 and 2 (later versions derive it from the reference hash),
``unsigned`` is ignored by hashing and signing. Accessors are lenient about malformed
values; rejecting those is ``validation.validate_event_shape``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .constants import CREATE, REDACTION, StateKey
from .room_versions import RoomVersion

Event = Mapping[str, Any]


def is_state_event(event: Event) -> bool:
    return "state_key" in event


def state_key_of(event: Event) -> StateKey:
    """``(type, state_key)`` of a state event."""
    return (event["type"], event["state_key"])


def content_of(event: Event) -> Mapping[str, Any]:
    content = event.get("content")
    if type(content) is dict:  # the usual case, without the cost of an ABC check
        return content
    return content if isinstance(content, Mapping) else {}


def membership_of(event: Event) -> str | None:
    """``content.membership`` of an ``m.room.member`` event (None when absent or invalid)."""
    membership = content_of(event).get("membership")
    return membership if isinstance(membership, str) else None


def _event_id_list(references: Any) -> list[str]:
    # Room versions 1 and 2 list [event_id, {hashes}] pairs (pdu_v1.yaml); later versions
    # list plain event IDs (pdu_v3.yaml onwards).
    if not isinstance(references, list):
        return []
    ids = []
    for reference in references:
        if isinstance(reference, list) and reference:
            reference = reference[0]
        if isinstance(reference, str):
            ids.append(reference)
    return ids


def prev_event_ids(event: Event) -> list[str]:
    return _event_id_list(event.get("prev_events"))


def auth_event_ids(event: Event) -> list[str]:
    """The event IDs listed in ``auth_events``."""
    return _event_id_list(event.get("auth_events"))


def create_event_id_for_room_id(room_id: str) -> str:
    """rooms/v12.md: the room ID is the create event's ID with sigil ``!`` instead of ``$``."""
    return "$" + room_id[1:]


def auth_event_ids_with_create(room_version: RoomVersion, event: Event) -> list[str]:
    """``auth_events`` plus, in room version 12, the create event implied by ``room_id``.

    rooms/v12.md: the create event MUST NOT be listed in ``auth_events``; "the room_id
    (being the m.room.create event's ID) implies this instead". Auth chains, the sender's
    power level in state resolution and the iterative auth checks all need it.
    """
    ids = auth_event_ids(event)
    if not room_version.room_id_is_create_event_id or event.get("type") == CREATE:
        return ids
    room_id = event.get("room_id")
    if isinstance(room_id, str) and room_id.startswith("!"):
        create_id = create_event_id_for_room_id(room_id)
        if create_id not in ids:
            ids.append(create_id)
    return ids


def room_creators(room_version: RoomVersion, create_event: Event) -> frozenset[str]:
    """The room creators named by an ``m.room.create`` event.

    v1-10: ``content.creator``; v11: the ``sender`` (rooms/v11.md "Remove the creator
    property"); v12: the ``sender`` plus ``content.additional_creators``.
    """
    if not room_version.implicit_room_creator:
        creator = content_of(create_event).get("creator")
        return frozenset([creator]) if isinstance(creator, str) else frozenset()
    creators = {create_event.get("sender")}
    if room_version.creators_have_infinite_power:
        additional = content_of(create_event).get("additional_creators")
        if isinstance(additional, list):
            creators.update(additional)
    return frozenset(c for c in creators if isinstance(c, str))


def redacts_of(room_version: RoomVersion, event: Event) -> str | None:
    """The event ID an ``m.room.redaction`` redacts: ``content.redacts`` from v11 on."""
    if event.get("type") != REDACTION:
        return None
    source = content_of(event) if room_version.redacts_in_content else event
    redacts = source.get("redacts")
    return redacts if isinstance(redacts, str) else None
