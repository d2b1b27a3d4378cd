"""Building new PDUs, and the auth events selection they (and the auth rules) rely on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .constants import (
    AUTHORISING_USER,
    CANONICALJSON_MAX_INT,
    CREATE,
    CREATE_KEY,
    INVITE,
    JOIN,
    JOIN_RULES_KEY,
    KNOCK,
    MAX_DEPTH_BEFORE_V6,
    MEMBER,
    POWER_LEVELS_KEY,
    REDACTION,
    THIRD_PARTY_INVITE,
    StateKey,
)
from .errors import UnsupportedRoomVersion
from .pdu import Event, content_of
from .room_versions import RoomVersion
from .signing import SigningKeyLike, add_hashes_signatures_and_id
from .validation import validate_event_shape


def auth_types_for_event(
    room_version: RoomVersion,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
) -> frozenset[StateKey]:
    """server-server-api.md "Auth events selection": the state keys auth_events may cite.

    The create event is selected before room version 12 and never from v12 on.
    """
    if event_type == CREATE:
        return frozenset()
    keys = {POWER_LEVELS_KEY, (MEMBER, sender)}
    if room_version.create_event_in_auth_events:
        keys.add(CREATE_KEY)
    if event_type == MEMBER and isinstance(state_key, str):
        membership = content.get("membership")
        keys.add((MEMBER, state_key))
        if membership in (JOIN, INVITE, KNOCK):
            keys.add(JOIN_RULES_KEY)
        if membership == INVITE:
            token = _third_party_invite_token(content)
            if token is not None:
                keys.add((THIRD_PARTY_INVITE, token))
        authorising_user = content.get(AUTHORISING_USER)
        if (
            membership == JOIN
            and room_version.restricted_join_rule
            and isinstance(authorising_user, str)
        ):
            keys.add((MEMBER, authorising_user))
    return frozenset(keys)


def auth_types_for_pdu(room_version: RoomVersion, event: Event) -> frozenset[StateKey]:
    return auth_types_for_event(
        room_version,
        event.get("type", ""),
        event.get("state_key"),
        event.get("sender", ""),
        content_of(event),
    )


def _third_party_invite_token(content: Mapping[str, Any]) -> str | None:
    third_party_invite = content.get("third_party_invite")
    signed = third_party_invite.get("signed") if isinstance(third_party_invite, Mapping) else None
    token = signed.get("token") if isinstance(signed, Mapping) else None
    return token if isinstance(token, str) else None


def select_auth_events(
    room_version: RoomVersion,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
    current_state: Mapping[StateKey, str],
) -> list[str]:
    """The ``auth_events`` for a new event: the selected keys' event IDs in ``current_state``."""
    keys = auth_types_for_event(room_version, event_type, state_key, sender, content)
    return [current_state[key] for key in sorted(keys) if key in current_state]


def compute_depth(room_version: RoomVersion, prev_event_depths: Iterable[int]) -> int:
    """The maximum depth of the ``prev_events`` plus one, capped at the format's limit."""
    limit = CANONICALJSON_MAX_INT if room_version.strict_canonical_json else MAX_DEPTH_BEFORE_V6
    return min(max(prev_event_depths, default=0) + 1, limit)


def build_event(
    room_version: RoomVersion,
    *,
    room_id: str | None,
    sender: str,
    event_type: str,
    content: Mapping[str, Any],
    prev_events: Iterable[str],
    auth_events: Iterable[str],
    depth: int,
    origin_server_ts: int,
    server_name: str,
    signing_key: SigningKeyLike,
    state_key: str | None = None,
    redacts: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A new hashed, signed and validated PDU and its event ID.

    ``room_id`` is None for the create event of a v12 room, whose room ID is then
    ``"!" + event_id[1:]``. ``redacts`` goes to ``content`` from room version 11 on and to
    the top level before. Raises ``EventFormatError`` if the result would be invalid.
    """
    if room_version.has_domain_event_ids:
        raise UnsupportedRoomVersion("cannot build events for room versions 1 and 2")
    is_v12_create = event_type == CREATE and room_version.room_id_is_create_event_id
    if (room_id is None) != is_v12_create:
        raise ValueError("room_id must be None exactly for a v12 m.room.create event")
    event: dict[str, Any] = {
        "type": event_type,
        "sender": sender,
        "content": dict(content),
        "prev_events": list(prev_events),
        "auth_events": list(auth_events),
        "depth": depth,
        "origin_server_ts": origin_server_ts,
    }
    if room_id is not None:
        event["room_id"] = room_id
    if state_key is not None:
        event["state_key"] = state_key
    if redacts is not None:
        if event_type != REDACTION:
            raise ValueError("only m.room.redaction events redact")
        if room_version.redacts_in_content:
            event["content"]["redacts"] = redacts
        else:
            event["redacts"] = redacts
    event_id, signed = add_hashes_signatures_and_id(room_version, event, server_name, signing_key)
    validate_event_shape(room_version, signed)
    return event_id, signed
