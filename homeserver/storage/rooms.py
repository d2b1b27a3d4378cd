"""Rooms, memberships, aliases and reports."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class Membership:
    room_id: str
    user_id: str
    membership: str
    event_id: str
    sender: str
    stream_ordering: int


async def insert_room(conn: Conn, room_id: str, room_version: str, creator: str, now_ms: int) -> None:
    await conn.execute(
        "INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES ($1, $2, $3, $4)",
        room_id, room_version, creator, now_ms,
    )


async def set_public(conn: Conn, room_id: str, is_public: bool) -> None:
    await conn.execute("UPDATE rooms SET is_public = $2 WHERE room_id = $1", room_id, is_public)


async def get_room_version(conn: Conn, room_id: str) -> str | None:
    return await conn.fetchval("SELECT room_version FROM rooms WHERE room_id = $1", room_id)


async def set_membership(
    conn: Conn, room_id: str, user_id: str, membership: str, event_id: str, sender: str, stream_ordering: int
) -> None:
    await conn.execute(
        "INSERT INTO room_memberships (user_id, room_id, membership, event_id, sender, stream_ordering)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, room_id) DO UPDATE SET"
        " membership = EXCLUDED.membership, event_id = EXCLUDED.event_id, sender = EXCLUDED.sender,"
        " stream_ordering = EXCLUDED.stream_ordering, forgotten = FALSE",
        user_id, room_id, membership, event_id, sender, stream_ordering,
    )


async def get_membership(conn: Conn, room_id: str, user_id: str) -> Membership | None:
    row = await conn.fetchrow(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE room_id = $1 AND user_id = $2",
        room_id, user_id,
    )
    return Membership(**row) if row else None


async def rooms_for_user(conn: Conn, user_id: str, memberships: tuple[str, ...] = ("join",)) -> list[Membership]:
    rows = await conn.fetch(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE user_id = $1 AND membership = ANY($2::text[]) AND NOT forgotten ORDER BY stream_ordering",
        user_id, list(memberships),
    )
    return [Membership(**r) for r in rows]


async def members(conn: Conn, room_id: str, memberships: tuple[str, ...] = ("join",)) -> list[Membership]:
    rows = await conn.fetch(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE room_id = $1 AND membership = ANY($2::text[]) ORDER BY user_id",
        room_id, list(memberships),
    )
    return [Membership(**r) for r in rows]


async def forget(conn: Conn, room_id: str, user_id: str) -> None:
    await conn.execute(
        "UPDATE room_memberships SET forgotten = TRUE WHERE room_id = $1 AND user_id = $2", room_id, user_id
    )


async def shared_rooms(conn: Conn, user_a: str, user_b: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT a.room_id FROM room_memberships a JOIN room_memberships b USING (room_id)"
        " WHERE a.user_id = $1 AND b.user_id = $2 AND a.membership = 'join' AND b.membership = 'join'"
        " ORDER BY a.room_id",
        user_a, user_b,
    )
    return [r["room_id"] for r in rows]


async def insert_alias(conn: Conn, alias: str, room_id: str, creator: str) -> bool:
    status = await conn.execute(
        "INSERT INTO room_aliases (room_alias, room_id, creator) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        alias, room_id, creator,
    )
    return status == "INSERT 0 1"


async def get_alias(conn: Conn, alias: str) -> tuple[str, str] | None:
    """(room_id, creator) of an alias."""
    row = await conn.fetchrow("SELECT room_id, creator FROM room_aliases WHERE room_alias = $1", alias)
    return (row["room_id"], row["creator"]) if row else None


async def delete_alias(conn: Conn, alias: str) -> None:
    await conn.execute("DELETE FROM room_aliases WHERE room_alias = $1", alias)


async def aliases_for_room(conn: Conn, room_id: str) -> list[str]:
    rows = await conn.fetch("SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY room_alias", room_id)
    return [r["room_alias"] for r in rows]
