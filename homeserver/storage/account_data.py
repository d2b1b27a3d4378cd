"""Account data: per-user JSON objects by type, global (room_id '') or per room.

Every write takes a fresh ``stream_id`` from stream_seq so /sync can hand out changes in order.
"""

from __future__ import annotations

from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

GLOBAL = ""


async def get_account_data(conn: Conn, user_id: str, room_id: str, data_type: str) -> dict[str, Any] | None:
    return await conn.fetchval(
        "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
        user_id, room_id, data_type,
    )


async def lock_user(conn: asyncpg.Connection, user_id: str) -> None:
    """Serialise read-modify-writes of the user's account data (room tags) until commit."""
    await conn.execute("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE", user_id)


async def put_account_data(
    conn: Conn, user_id: str, room_id: str, data_type: str, content: dict[str, Any], stream_id: int
) -> None:
    """Insert or replace, at a fresh stream position (homeserver/sync/streams.py)."""
    await conn.execute(
        "INSERT INTO account_data (user_id, room_id, type, content, stream_id) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (user_id, room_id, type) DO UPDATE"
        " SET content = EXCLUDED.content, stream_id = EXCLUDED.stream_id",
        user_id, room_id, data_type, content, stream_id,
    )



async def account_data_since(
    conn: Conn, user_id: str, since: int, upto: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """(room_id, type, content) of the user's account data written in (since, upto]."""
    rows = await conn.fetch(
        "SELECT room_id, type, content FROM account_data"
        " WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id",
        user_id, since, upto,
    )
    return [(r["room_id"], r["type"], r["content"]) for r in rows]
