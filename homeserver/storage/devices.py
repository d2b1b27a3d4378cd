"""Devices and their access and refresh tokens (stored as SHA-256 hashes only)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class Device:
    user_id: str
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


@dataclass(frozen=True, slots=True)
class AccessToken:
    id: int
    user_id: str
    device_id: str
    expires_ts: int | None
    refresh_token_id: int | None
    used: bool
    is_admin: bool
    deactivated: bool
    last_seen_ts: int | None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: int
    user_id: str
    device_id: str
    expires_ts: int | None
    next_id: int | None
    # Shared by the refresh tokens of one login (named in the token); None before 0011.
    family: str | None


_DEVICE_COLUMNS = "user_id, device_id, display_name, last_seen_ts, last_seen_ip"


async def upsert_device(conn: Conn, user_id: str, device_id: str, display_name: str | None, now_ms: int) -> None:
    """Create the device, or keep an existing one (re-login with the same device_id)."""
    await conn.execute(
        "INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (user_id, device_id) DO UPDATE"
        " SET display_name = COALESCE(EXCLUDED.display_name, devices.display_name)",
        user_id, device_id, display_name, now_ms,
    )


async def get_device(conn: Conn, user_id: str, device_id: str) -> Device | None:
    row = await conn.fetchrow(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE user_id = $1 AND device_id = $2", user_id, device_id
    )
    return Device(**row) if row else None


async def list_devices(conn: Conn, user_id: str) -> list[Device]:
    rows = await conn.fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY device_id", user_id)
    return [Device(**r) for r in rows]


async def set_display_name(conn: Conn, user_id: str, device_id: str, display_name: str | None) -> bool:
    status = await conn.execute(
        "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2", user_id, device_id, display_name
    )
    return status == "UPDATE 1"


async def delete_devices(conn: Conn, user_id: str, device_ids: list[str]) -> None:
    """Delete devices; their tokens go with them (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2::text[])", user_id, device_ids)


async def touch_device(conn: Conn, user_id: str, device_id: str, now_ms: int, ip: str, user_agent: str | None) -> None:
    await conn.execute(
        "UPDATE devices SET last_seen_ts = $3, last_seen_ip = $4, last_seen_user_agent = $5"
        " WHERE user_id = $1 AND device_id = $2",
        user_id, device_id, now_ms, ip, user_agent,
    )


async def insert_access_token(
    conn: Conn, token_hash: bytes, user_id: str, device_id: str, now_ms: int,
    expires_ts: int | None = None, refresh_token_id: int | None = None,
) -> int:
    return await conn.fetchval(
        "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_id)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        token_hash, user_id, device_id, now_ms, expires_ts, refresh_token_id,
    )


async def lookup_access_token(conn: Conn, token_hash: bytes) -> AccessToken | None:
    row = await conn.fetchrow(
        "SELECT t.id, t.user_id, t.device_id, t.expires_ts, t.refresh_token_id, t.used,"
        " u.is_admin, u.deactivated, d.last_seen_ts"
        " FROM access_tokens t JOIN users u USING (user_id)"
        " JOIN devices d ON d.user_id = t.user_id AND d.device_id = t.device_id"
        " WHERE t.token_hash = $1",
        token_hash,
    )
    return AccessToken(**row) if row else None


async def mark_access_token_used(conn: Conn, token_id: int, refresh_token_id: int) -> None:
    """The first use of a refreshed access token: mark it used and revoke the refresh
    token its own replaced (spec: "Refreshing access tokens": the old one stays valid
    until the new access or refresh token is used), in one statement; a concurrent
    first use finds it used and changes nothing."""
    await conn.execute(
        "WITH u AS (UPDATE access_tokens SET used = TRUE WHERE id = $1 AND NOT used RETURNING 1)"
        " DELETE FROM refresh_tokens WHERE next_id = $2 AND EXISTS (SELECT 1 FROM u)",
        token_id, refresh_token_id,
    )


async def delete_access_token(conn: Conn, token_id: int) -> None:
    await conn.execute("DELETE FROM access_tokens WHERE id = $1", token_id)


async def delete_access_tokens_of_refresh_token(conn: Conn, refresh_token_id: int) -> None:
    await conn.execute("DELETE FROM access_tokens WHERE refresh_token_id = $1", refresh_token_id)


async def insert_refresh_token(
    conn: Conn, token_hash: bytes, user_id: str, device_id: str, now_ms: int, expires_ts: int | None, family: str
) -> int:
    return await conn.fetchval(
        "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, family)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        token_hash, user_id, device_id, now_ms, expires_ts, family,
    )


async def lookup_refresh_token(conn: Conn, token_hash: bytes) -> RefreshToken | None:
    """Find a refresh token and lock it, so two concurrent refreshes cannot both use it."""
    row = await conn.fetchrow(
        "SELECT id, user_id, device_id, expires_ts, next_id, family FROM refresh_tokens"
        " WHERE token_hash = $1 FOR UPDATE",
        token_hash,
    )
    return RefreshToken(**row) if row else None


async def delete_superseded_refresh_token(conn: Conn, refresh_token_id: int) -> None:
    """Revoke the refresh token that ``refresh_token_id`` replaced (spec: "Refreshing access
    tokens": the old one stays valid until the new access or refresh token is used)."""
    await conn.execute("DELETE FROM refresh_tokens WHERE next_id = $1", refresh_token_id)


async def set_next_refresh_token(conn: Conn, old_id: int, new_id: int) -> None:
    await conn.execute("UPDATE refresh_tokens SET next_id = $2 WHERE id = $1", old_id, new_id)


async def revoke_refresh_family(conn: Conn, family: str) -> tuple[str, str] | None:
    """Delete every refresh token of a family, and with them (ON DELETE CASCADE) the
    access tokens issued with them; the (user_id, device_id) they belonged to, or None
    for a family with no token left."""
    row = await conn.fetchrow(
        "WITH d AS (DELETE FROM refresh_tokens WHERE family = $1 RETURNING user_id, device_id)"
        " SELECT user_id, device_id FROM d LIMIT 1",
        family,
    )
    return (row["user_id"], row["device_id"]) if row else None


async def delete_refresh_token(conn: Conn, token_id: int) -> None:
    await conn.execute("DELETE FROM refresh_tokens WHERE id = $1", token_id)
