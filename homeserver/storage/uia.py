"""User-interactive auth sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class UiaSession:
    session_id: str
    created_ts: int
    method: str
    path: str
    user_id: str | None
    completed: dict[str, Any]


async def create_session(conn: Conn, session_id: str, now_ms: int, method: str, path: str, user_id: str | None) -> None:
    await conn.execute(
        "INSERT INTO uia_sessions (session_id, created_ts, method, path, user_id) VALUES ($1, $2, $3, $4, $5)",
        session_id, now_ms, method, path, user_id,
    )


async def get_session(conn: Conn, session_id: str) -> UiaSession | None:
    row = await conn.fetchrow(
        "SELECT session_id, created_ts, method, path, user_id, completed FROM uia_sessions WHERE session_id = $1",
        session_id,
    )
    return UiaSession(**row) if row else None


async def mark_completed(conn: Conn, session_id: str, stage: str, result: Any) -> None:
    await conn.execute(
        "UPDATE uia_sessions SET completed = completed || jsonb_build_object($2::text, $3::jsonb)"
        " WHERE session_id = $1",
        session_id, stage, result,
    )


async def delete_session(conn: Conn, session_id: str) -> None:
    await conn.execute("DELETE FROM uia_sessions WHERE session_id = $1", session_id)


async def delete_expired(conn: Conn, older_than_ts: int) -> None:
    await conn.execute("DELETE FROM uia_sessions WHERE created_ts < $1", older_than_ts)
