"""What the space hierarchy shows of a room: its summary state and its m.space.child events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from homeserver.storage.rooms import DIRECTORY_STATE_TYPES

Conn = asyncpg.Connection | asyncpg.Pool

SPACE_CHILD = "m.space.child"
SUMMARY_TYPES = (*DIRECTORY_STATE_TYPES, "m.room.encryption")


@dataclass(frozen=True, slots=True)
class StateEvent:
    type: str
    state_key: str
    sender: str
    origin_server_ts: int
    # The event as signed; redacted_by set means only its redacted form may be served.
    pdu: dict[str, Any]
    redacted_by: str | None


@dataclass(frozen=True, slots=True)
class RoomState:
    room_id: str
    room_version: str
    num_joined_members: int
    events: list[StateEvent]


async def room_state(conn: Conn, room_id: str) -> RoomState | None:
    """A local room's current summary state and space children, or None if unknown."""
    room = await conn.fetchrow(
        "SELECT room_version, (SELECT count(*) FROM room_memberships m WHERE m.room_id = r.room_id"
        " AND m.membership = 'join') AS joined FROM rooms r WHERE room_id = $1",
        room_id,
    )
    if room is None:
        return None
    rows = await conn.fetch(
        "SELECT c.type, c.state_key, e.sender, e.origin_server_ts, e.json, e.redacted_by"
        " FROM current_state c JOIN events e ON e.event_id = c.event_id"
        " WHERE c.room_id = $1 AND ((c.state_key = '' AND c.type = ANY($2::text[])) OR c.type = $3)",
        room_id, list(SUMMARY_TYPES), SPACE_CHILD,
    )
    events = [StateEvent(r["type"], r["state_key"], r["sender"], r["origin_server_ts"], orjson.loads(r["json"]),
                         r["redacted_by"]) for r in rows]
    return RoomState(room_id, room["room_version"], room["joined"], events)
