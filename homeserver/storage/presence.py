"""Presence: one row per user who has been seen, each change at a stream position."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

ONLINE, UNAVAILABLE, OFFLINE = "online", "unavailable", "offline"


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: str
    state: str
    status_msg: str | None
    last_active_ts: int
    last_seen_ts: int
    currently_active: bool
    stream_id: int


@dataclass(frozen=True, slots=True)
class ObservedPresence:
    """A presence row with the profile an m.presence event carries."""

    presence: Presence
    displayname: str | None
    avatar_url: str | None


_COLUMNS = "user_id, state, status_msg, last_active_ts, last_seen_ts, currently_active, stream_id"
_P_COLUMNS = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))


def _presence(row: asyncpg.Record) -> Presence:
    return Presence(**{k: row[k] for k in Presence.__slots__})


async def get_presence(conn: Conn, user_id: str, *, for_update: bool = False) -> Presence | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM presence WHERE user_id = $1{lock}", user_id)
    return _presence(row) if row else None


async def put_presence(conn: Conn, p: Presence) -> None:
    """Insert or replace a user's presence (a change /sync serves: a fresh stream_id)."""
    await conn.execute(
        f"INSERT INTO presence ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg,"
        " last_active_ts = EXCLUDED.last_active_ts, last_seen_ts = EXCLUDED.last_seen_ts,"
        " currently_active = EXCLUDED.currently_active, stream_id = EXCLUDED.stream_id",
        p.user_id, p.state, p.status_msg, p.last_active_ts, p.last_seen_ts, p.currently_active, p.stream_id,
    )


async def touch(conn: Conn, user_id: str, last_active_ts: int | None, last_seen_ts: int) -> None:
    """Move the activity times forward without a change /sync serves (no new stream_id)."""
    await conn.execute(
        "UPDATE presence SET last_active_ts = GREATEST(last_active_ts, COALESCE($2, last_active_ts)),"
        " last_seen_ts = GREATEST(last_seen_ts, $3) WHERE user_id = $1",
        user_id, last_active_ts, last_seen_ts,
    )


_DUE = (
    "state <> 'offline' AND last_seen_ts < $2 OR state = 'online' AND last_active_ts < $1"
)


async def any_timed_out(conn: Conn, idle_before: int, offline_before: int) -> bool:
    return await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM presence WHERE {_DUE})", idle_before, offline_before)


async def lock_timed_out(conn: Conn, idle_before: int, offline_before: int, limit: int) -> list[Presence]:
    """Users due to go idle (online, inactive since before ``idle_before``) or offline
    (not seen since before ``offline_before``), locked; rows another sweep holds are skipped."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM presence WHERE {_DUE} ORDER BY user_id LIMIT $3 FOR UPDATE SKIP LOCKED",
        idle_before, offline_before, limit,
    )
    return [_presence(r) for r in rows]


async def set_states(conn: Conn, changes: Sequence[tuple[str, str, int]]) -> None:
    """(user_id, state, stream_id) each; currently_active follows the state."""
    await conn.execute(
        "UPDATE presence p SET state = c.state, currently_active = c.state = 'online', stream_id = c.stream_id"
        " FROM unnest($1::text[], $2::text[], $3::bigint[]) AS c(user_id, state, stream_id)"
        " WHERE p.user_id = c.user_id",
        [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes],
    )


# Whose presence a user receives: their own and that of everyone sharing a joined room.
_INITIAL = f"""
WITH observed AS (
    SELECT $1::text AS user_id
    UNION
    SELECT b.user_id FROM room_memberships a
    JOIN room_memberships b ON b.room_id = a.room_id AND b.membership = 'join'
    WHERE a.user_id = $1 AND a.membership = 'join'
)
SELECT {_P_COLUMNS}, pr.displayname, pr.avatar_url
FROM observed o JOIN presence p ON p.user_id = o.user_id LEFT JOIN profiles pr ON pr.user_id = p.user_id
WHERE p.stream_id > $2 AND p.stream_id <= $3 ORDER BY p.stream_id
"""
_INCREMENTAL = f"""
SELECT {_P_COLUMNS}, pr.displayname, pr.avatar_url
FROM presence p LEFT JOIN profiles pr ON pr.user_id = p.user_id
WHERE p.stream_id > $2 AND p.stream_id <= $3 AND (p.user_id = $1 OR EXISTS (
    SELECT 1 FROM room_memberships a
    JOIN room_memberships b ON b.room_id = a.room_id AND b.user_id = p.user_id AND b.membership = 'join'
    WHERE a.user_id = $1 AND a.membership = 'join'))
ORDER BY p.stream_id
"""


async def observed_since(conn: Conn, user_id: str, since: int, upto: int) -> list[ObservedPresence]:
    """Presence of the user and everyone sharing a joined room with them, changed in
    (since, upto]. From 0 the query starts at the co-members (all of them are wanted);
    otherwise at the few recent changes, each checked for a shared room."""
    rows = await conn.fetch(_INITIAL if since == 0 else _INCREMENTAL, user_id, since, upto)
    return [ObservedPresence(_presence(r), r["displayname"], r["avatar_url"]) for r in rows]


async def presence_of(conn: Conn, user_ids: Iterable[str]) -> list[ObservedPresence]:
    rows = await conn.fetch(
        f"SELECT {_P_COLUMNS}, pr.displayname, pr.avatar_url FROM presence p"
        " LEFT JOIN profiles pr ON pr.user_id = p.user_id WHERE p.user_id = ANY($1::text[]) ORDER BY p.user_id",
        list(user_ids),
    )
    return [ObservedPresence(_presence(r), r["displayname"], r["avatar_url"]) for r in rows]


async def joined_rooms_of(conn: Conn, user_ids: Iterable[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT room_id FROM room_memberships WHERE user_id = ANY($1::text[]) AND membership = 'join'",
        list(user_ids),
    )
    return [r["room_id"] for r in rows]


async def share_a_room(conn: Conn, user_a: str, user_b: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_id = a.room_id"
        " WHERE a.user_id = $1 AND a.membership = 'join' AND b.user_id = $2 AND b.membership = 'join')",
        user_a, user_b,
    )
