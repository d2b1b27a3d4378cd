"""Filters and to-device messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from homeserver.storage.rooms import Membership

Conn = asyncpg.Connection | asyncpg.Pool


async def insert_filter(conn: Conn, user_id: str, definition: dict[str, Any]) -> int:
    return await conn.fetchval(
        "INSERT INTO filters (user_id, filter) VALUES ($1, $2) RETURNING filter_id", user_id, definition
    )


async def get_filter(conn: Conn, user_id: str, filter_id: int) -> dict[str, Any] | None:
    return await conn.fetchval("SELECT filter FROM filters WHERE user_id = $1 AND filter_id = $2", user_id, filter_id)


@dataclass(frozen=True, slots=True)
class ToDevice:
    sender: str
    type: str
    content: dict[str, Any]
    stream_id: int


async def take_to_device_txn(conn: Conn, user_id: str, device_id: str, txn_id: str, now_ms: int) -> bool:
    """Record a transaction ID; False if it was used before (a retry)."""
    status = await conn.execute(
        "INSERT INTO to_device_txns (user_id, device_id, txn_id, created_ts) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        user_id, device_id, txn_id, now_ms,
    )
    return status == "INSERT 0 1"


async def insert_to_device(
    conn: Conn, messages: list[tuple[str, str, str, str, dict[str, Any]]], stream_id: int
) -> None:
    """(user_id, device_id, sender, type, content) each, all at one stream position."""
    await conn.executemany(
        "INSERT INTO to_device_messages (user_id, device_id, stream_id, sender, type, content)"
        " VALUES ($1, $2, $6, $3, $4, $5) ON CONFLICT DO NOTHING",
        [(*m, stream_id) for m in messages],
    )


async def to_device_since(conn: Conn, user_id: str, device_id: str, since: int, upto: int, limit: int) -> list[ToDevice]:
    rows = await conn.fetch(
        "SELECT sender, type, content, stream_id FROM to_device_messages"
        " WHERE user_id = $1 AND device_id = $2 AND stream_id > $3 AND stream_id <= $4"
        " ORDER BY stream_id LIMIT $5",
        user_id, device_id, since, upto, limit,
    )
    return [ToDevice(**r) for r in rows]


async def delete_to_device_upto(conn: Conn, user_id: str, device_id: str, upto: int) -> None:
    await conn.execute(
        "DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3",
        user_id, device_id, upto,
    )


async def membership_changes(conn: Conn, user_id: str, since: int, upto: int) -> list[asyncpg.Record]:
    """The user's latest membership per room where it changed in (since, upto]."""
    return await conn.fetch(
        "SELECT room_id, membership, event_id, stream_ordering FROM room_memberships"
        " WHERE user_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3 AND NOT forgotten",
        user_id, since, upto,
    )


async def state_events_between(conn: Conn, room_id: str, after: int, before: int) -> list[str]:
    """IDs of the latest state event per (type, state_key) stored in (after, before)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (type, state_key) event_id FROM events"
        " WHERE room_id = $1 AND stream_ordering > $2 AND stream_ordering < $3 AND state_key IS NOT NULL"
        " AND rejected_reason IS NULL AND NOT soft_failed"
        " ORDER BY type, state_key, stream_ordering DESC",
        room_id, after, before,
    )
    return [r["event_id"] for r in rows]


async def state_events_between_rooms(conn: Conn, ranges: dict[str, tuple[int, int]]) -> dict[str, list[str]]:
    """``state_events_between`` for several rooms at once: room -> (after, before)."""
    rooms = list(ranges)
    rows = await conn.fetch(
        "SELECT DISTINCT ON (e.room_id, e.type, e.state_key) e.room_id, e.event_id"
        " FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(room_id, after, before)"
        " JOIN events e ON e.room_id = r.room_id AND e.stream_ordering > r.after AND e.stream_ordering < r.before"
        " WHERE e.state_key IS NOT NULL AND e.rejected_reason IS NULL AND NOT e.soft_failed"
        " ORDER BY e.room_id, e.type, e.state_key, e.stream_ordering DESC",
        rooms, [ranges[r][0] for r in rooms], [ranges[r][1] for r in rooms],
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["room_id"], []).append(r["event_id"])
    return out


async def state_group_before(conn: Conn, room_id: str, stream_ordering: int) -> int | None:
    """The state group after the room's last event before ``stream_ordering``."""
    return await conn.fetchval(
        "SELECT state_group FROM events WHERE room_id = $1 AND stream_ordering < $2"
        " AND rejected_reason IS NULL AND NOT soft_failed ORDER BY stream_ordering DESC LIMIT 1",
        room_id, stream_ordering,
    )


async def member_counts(conn: Conn, room_ids: list[str]) -> dict[str, dict[str, int]]:
    rows = await conn.fetch(
        "SELECT room_id, membership, count(*) AS n FROM room_memberships"
        " WHERE room_id = ANY($1::text[]) AND membership IN ('join', 'invite') GROUP BY room_id, membership",
        room_ids,
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["room_id"], {})[r["membership"]] = r["n"]
    return out


async def heroes(conn: Conn, room_ids: list[str], user_id: str, count: int = 5) -> dict[str, list[str]]:
    """Up to ``count`` other joined or invited members per room, by user ID."""
    rows = await conn.fetch(
        "SELECT room_id, user_id FROM ("
        "  SELECT room_id, user_id, row_number() OVER (PARTITION BY room_id ORDER BY user_id) AS n"
        "  FROM room_memberships WHERE room_id = ANY($1::text[]) AND user_id <> $2"
        "  AND membership IN ('join', 'invite')) ranked WHERE n <= $3",
        room_ids, user_id, count,
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["room_id"], []).append(r["user_id"])
    return out


async def txn_ids(conn: Conn, user_id: str, device_id: str, event_ids: list[str]) -> dict[str, str]:
    """The client transaction IDs this device sent these events with."""
    rows = await conn.fetch(
        "SELECT event_id, txn_id FROM event_txn_ids WHERE user_id = $1 AND device_id = $2"
        " AND event_id = ANY($3::text[])",
        user_id, device_id, event_ids,
    )
    return {r["event_id"]: r["txn_id"] for r in rows}


@dataclass(frozen=True, slots=True)
class Changes:
    """Which streams have anything for a user between two tokens: an incremental /sync
    reads only those (one round trip instead of one per stream)."""

    rooms_with_events: list[str]
    memberships: bool
    account_data: bool
    to_device: bool
    to_device_acknowledged: bool
    receipts: bool
    typing: bool
    presence: bool
    device_lists: bool
    # Membership or encryption changes in the user's encrypted rooms (device_lists too).
    encrypted_memberships: bool
    push_rules_stream: int
    ignored_user_list: dict[str, Any] | None
    keys: KeyCounts


@dataclass(frozen=True, slots=True)
class KeyCounts:
    """The device's unclaimed one-time keys by algorithm, and its unused fallback keys'
    algorithms (spec: "Extensions to /sync")."""

    one_time_keys: dict[str, int]
    unused_fallback_key_types: list[str]


# $1 the user, $2 the device.
KEY_COUNTS = """
  (SELECT json_object_agg(algorithm, n) FROM (SELECT algorithm, count(*) AS n FROM e2e_one_time_keys
   WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm) c)::text AS one_time_keys,
  (SELECT array_agg(algorithm ORDER BY algorithm) FROM e2e_fallback_keys
   WHERE user_id = $1 AND device_id = $2 AND NOT used) AS unused_fallback_key_types"""


async def key_counts(conn: Conn, user_id: str, device_id: str) -> KeyCounts:
    return _key_counts(await conn.fetchrow(f"SELECT {KEY_COUNTS}", user_id, device_id))


def _key_counts(row: Any) -> KeyCounts:
    return KeyCounts(orjson.loads(row["one_time_keys"] or "{}"), list(row["unused_fallback_key_types"] or []))


# $3 and $4 hold the since and upto positions of each stream, in homeserver.streams.Stream
# order (SQL arrays count from 1): events 1, receipts 2, typing 3, account data 4,
# to-device 5, presence 6, device lists 7.
_PROBE = """
WITH joined AS (SELECT * FROM room_memberships WHERE user_id = $1 AND membership = 'join' AND NOT forgotten),
ids AS (SELECT COALESCE(array_agg(room_id), '{}') AS rooms FROM joined)
SELECT (SELECT json_agg(json_build_array(room_id, user_id, membership, event_id, sender, stream_ordering)
                        ORDER BY stream_ordering) FROM joined)::text AS joined,
  (SELECT array_agg(DISTINCT room_id) FROM events WHERE room_id = ANY((SELECT rooms FROM ids)::text[])
   AND stream_ordering > ($3::bigint[])[1] AND stream_ordering <= ($4::bigint[])[1]) AS rooms_with_events,
  EXISTS (SELECT 1 FROM room_memberships WHERE user_id = $1
          AND stream_ordering > ($3::bigint[])[1] AND stream_ordering <= ($4::bigint[])[1]) AS memberships,
  EXISTS (SELECT 1 FROM account_data WHERE user_id = $1 AND stream_id > ($3::bigint[])[4] AND stream_id <= ($4::bigint[])[4])
    OR EXISTS (SELECT 1 FROM push_rules WHERE user_id = $1 AND stream_id > ($3::bigint[])[4] AND stream_id <= ($4::bigint[])[4])
    AS account_data,
  EXISTS (SELECT 1 FROM to_device_messages WHERE user_id = $1 AND device_id = $2
          AND stream_id > ($3::bigint[])[5] AND stream_id <= ($4::bigint[])[5]) AS to_device,
  EXISTS (SELECT 1 FROM to_device_messages WHERE user_id = $1 AND device_id = $2
          AND stream_id <= ($3::bigint[])[5]) AS to_device_acknowledged,
  EXISTS (SELECT 1 FROM receipts WHERE room_id = ANY((SELECT rooms FROM ids)::text[])
          AND stream_id > ($3::bigint[])[2] AND stream_id <= ($4::bigint[])[2]) AS receipts,
  EXISTS (SELECT 1 FROM typing_changes WHERE room_id = ANY((SELECT rooms FROM ids)::text[])
          AND stream_id > ($3::bigint[])[3] AND stream_id <= ($4::bigint[])[3]) AS typing,
  EXISTS (SELECT 1 FROM presence WHERE stream_id > ($3::bigint[])[6] AND stream_id <= ($4::bigint[])[6]) AS presence,
  EXISTS (SELECT 1 FROM device_list_changes WHERE stream_id > ($3::bigint[])[7] AND stream_id <= ($4::bigint[])[7]) AS device_lists,
  EXISTS (SELECT 1 FROM events e WHERE e.room_id = ANY((SELECT rooms FROM ids)::text[])
          AND e.stream_ordering > ($3::bigint[])[1] AND e.stream_ordering <= ($4::bigint[])[1]
          AND e.type IN ('m.room.member', 'm.room.encryption')
          AND EXISTS (SELECT 1 FROM current_state cs WHERE cs.room_id = e.room_id
                      AND cs.type = 'm.room.encryption' AND cs.state_key = '')) AS encrypted_memberships,
  @KEY_COUNTS,
  COALESCE((SELECT stream_id FROM push_rules WHERE user_id = $1), 0) AS push_rules_stream,
  (SELECT content FROM account_data WHERE user_id = $1 AND room_id = '' AND type = 'm.ignored_user_list')
    AS ignored_user_list
""".replace("@KEY_COUNTS", KEY_COUNTS)


async def joined_and_changes_since(
    conn: Conn, user_id: str, device_id: str, since: Sequence[int], upto: Sequence[int]
) -> tuple[list[Membership], Changes]:
    """The user's joined rooms (as ``rooms.rooms_for_user``) and which streams changed
    for them between the ``since`` and ``upto`` positions (by stream), in one round trip."""
    row = await conn.fetchrow(_PROBE, user_id, device_id, list(since), list(upto))
    values = dict(row)
    joined = [Membership(*item) for item in orjson.loads(values.pop("joined") or "[]")]
    values["rooms_with_events"] = list(values["rooms_with_events"] or [])
    values["keys"] = _key_counts(values)
    del values["one_time_keys"], values["unused_fallback_key_types"]
    return joined, Changes(**values)
