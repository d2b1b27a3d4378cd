"""Accounts and their profiles."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    localpart: str
    password_hash: str | None
    created_ts: int
    is_admin: bool
    deactivated: bool


@dataclass(frozen=True, slots=True)
class Profile:
    displayname: str | None
    avatar_url: str | None


async def insert_user(
    conn: Conn, user_id: str, localpart: str, password_hash: str | None, now_ms: int,
    *, is_admin: bool = False, consent_version: str | None = None,
) -> bool:
    """Create the account; False if the localpart was ever taken (deactivated included)."""
    status = await conn.execute(
        "INSERT INTO users (user_id, localpart, password_hash, created_ts, is_admin, consent_version)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        user_id, localpart, password_hash, now_ms, is_admin, consent_version,
    )
    return status == "INSERT 0 1"


async def get_user(conn: Conn, user_id: str) -> User | None:
    row = await conn.fetchrow(
        "SELECT user_id, localpart, password_hash, created_ts, is_admin, deactivated"
        " FROM users WHERE user_id = $1",
        user_id,
    )
    return User(**row) if row else None


async def localpart_taken(conn: Conn, localpart: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE localpart = $1", localpart))


async def set_password_hash(conn: Conn, user_id: str, password_hash: str | None) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE user_id = $1", user_id, password_hash)


async def set_admin(conn: Conn, user_id: str, is_admin: bool) -> None:
    await conn.execute("UPDATE users SET is_admin = $2 WHERE user_id = $1", user_id, is_admin)


async def mark_deactivated(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "UPDATE users SET deactivated = TRUE, password_hash = NULL WHERE user_id = $1", user_id
    )


async def insert_profile(conn: Conn, user_id: str, displayname: str | None) -> None:
    await conn.execute(
        "INSERT INTO profiles (user_id, displayname) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user_id, displayname,
    )


async def get_profile(conn: Conn, user_id: str) -> Profile | None:
    row = await conn.fetchrow("SELECT displayname, avatar_url FROM profiles WHERE user_id = $1", user_id)
    return Profile(**row) if row else None


async def delete_profile(conn: Conn, user_id: str) -> None:
    await conn.execute("DELETE FROM profiles WHERE user_id = $1", user_id)


async def insert_nonce(conn: Conn, nonce: str, now_ms: int, older_than_ts: int) -> None:
    await conn.execute("DELETE FROM registration_nonces WHERE created_ts < $1", older_than_ts)
    await conn.execute("INSERT INTO registration_nonces (nonce, created_ts) VALUES ($1, $2)", nonce, now_ms)


async def take_nonce(conn: Conn, nonce: str, older_than_ts: int) -> bool:
    """Consume a nonce; False if it is unknown, used or expired."""
    status = await conn.execute(
        "DELETE FROM registration_nonces WHERE nonce = $1 AND created_ts >= $2", nonce, older_than_ts
    )
    return status == "DELETE 1"


async def update_profile_field(conn: Conn, user_id: str, field: str, value: str | None) -> Profile | None:
    """Set one field and return the whole profile as it now is; None if there is no profile."""
    if field not in ("displayname", "avatar_url"):
        raise ValueError(field)
    row = await conn.fetchrow(
        f"UPDATE profiles SET {field} = $2 WHERE user_id = $1 RETURNING displayname, avatar_url", user_id, value
    )
    return Profile(**row) if row else None
