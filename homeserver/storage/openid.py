"""OpenID tokens (migration 0032), by their SHA-256 hash."""

from __future__ import annotations

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


async def insert_token(conn: Conn, token_hash: bytes, user_id: str, expires_ts: int, now_ms: int) -> None:
    await conn.execute("DELETE FROM openid_tokens WHERE expires_ts <= $1", now_ms)
    await conn.execute(
        "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
        token_hash, user_id, expires_ts,
    )


async def token_user(conn: Conn, token_hash: bytes, now_ms: int) -> str | None:
    return await conn.fetchval(
        "SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2", token_hash, now_ms
    )
