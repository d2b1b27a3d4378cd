"""Server-side key backups: versions and the encrypted room keys in each (migration 0030)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class BackupVersion:
    version: int
    algorithm: str
    auth_data: dict[str, Any]
    etag: int
    count: int


@dataclass(frozen=True, slots=True)
class RoomKey:
    room_id: str
    session_id: str
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: dict[str, Any]


_VERSION = "SELECT version, algorithm, auth_data, etag, key_count AS count FROM e2e_room_keys_versions"


async def lock_user(conn: asyncpg.Connection, user_id: str) -> None:
    """Serialise the user's backup writes (new versions, and keys against the latest)."""
    await conn.execute("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE", user_id)


async def create_version(conn: Conn, user_id: str, algorithm: str, auth_data: dict[str, Any]) -> int:
    """A new version, numbered after every version the user ever had (deleted ones too)."""
    return await conn.fetchval(
        "INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data)"
        " SELECT $1, COALESCE(max(version), 0) + 1, $2, $3 FROM e2e_room_keys_versions WHERE user_id = $1"
        " RETURNING version",
        user_id, algorithm, auth_data,
    )


async def latest_version(conn: Conn, user_id: str) -> BackupVersion | None:
    row = await conn.fetchrow(
        f"{_VERSION} WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1", user_id
    )
    return BackupVersion(**row) if row else None


async def get_version(conn: Conn, user_id: str, version: int) -> BackupVersion | None:
    row = await conn.fetchrow(f"{_VERSION} WHERE user_id = $1 AND version = $2 AND NOT deleted", user_id, version)
    return BackupVersion(**row) if row else None


async def set_auth_data(conn: Conn, user_id: str, version: int, auth_data: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE e2e_room_keys_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2",
        user_id, version, auth_data,
    )


async def delete_version(conn: Conn, user_id: str, version: int) -> bool:
    """Delete the version's keys and mark it deleted; False if it never existed."""
    await conn.execute("DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2", user_id, version)
    status = await conn.execute(
        "UPDATE e2e_room_keys_versions SET deleted = TRUE, key_count = 0 WHERE user_id = $1 AND version = $2",
        user_id, version,
    )
    return status == "UPDATE 1"


# Keep the better key of a session (spec: "Server-side key backups"): a verified one over
# an unverified one, then the lower first_message_index, then the lower forwarded_count;
# an equal one leaves the stored key as it is.
_PUT = """
INSERT INTO e2e_room_keys AS k
    (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::boolean[], $8::jsonb[])
ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
    first_message_index = EXCLUDED.first_message_index, forwarded_count = EXCLUDED.forwarded_count,
    is_verified = EXCLUDED.is_verified, session_data = EXCLUDED.session_data
WHERE (EXCLUDED.is_verified AND NOT k.is_verified) OR (EXCLUDED.is_verified = k.is_verified AND (
    EXCLUDED.first_message_index < k.first_message_index OR (
        EXCLUDED.first_message_index = k.first_message_index AND EXCLUDED.forwarded_count < k.forwarded_count)))
RETURNING xmax = 0 AS inserted
"""


async def put_keys(conn: Conn, user_id: str, version: int, keys: Sequence[RoomKey]) -> BackupVersion:
    """Store keys by the replacement rules; the version's etag moves if anything changed."""
    rows = await conn.fetch(
        _PUT, user_id, version, [k.room_id for k in keys], [k.session_id for k in keys],
        [k.first_message_index for k in keys], [k.forwarded_count for k in keys], [k.is_verified for k in keys],
        [k.session_data for k in keys],
    )
    return await _update_counts(conn, user_id, version, sum(r["inserted"] for r in rows), bool(rows))


async def get_keys(
    conn: Conn, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
) -> list[RoomKey]:
    rows = await conn.fetch(
        "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data"
        " FROM e2e_room_keys WHERE user_id = $1 AND version = $2"
        " AND ($3::text IS NULL OR room_id = $3) AND ($4::text IS NULL OR session_id = $4)",
        user_id, version, room_id, session_id,
    )
    return [RoomKey(**r) for r in rows]


async def delete_keys(
    conn: Conn, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
) -> BackupVersion:
    status = await conn.execute(
        "DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2"
        " AND ($3::text IS NULL OR room_id = $3) AND ($4::text IS NULL OR session_id = $4)",
        user_id, version, room_id, session_id,
    )
    deleted = int(status.split()[-1])
    return await _update_counts(conn, user_id, version, -deleted, deleted > 0)


async def _update_counts(conn: Conn, user_id: str, version: int, added: int, changed: bool) -> BackupVersion:
    row = await conn.fetchrow(
        "UPDATE e2e_room_keys_versions SET key_count = key_count + $3, etag = etag + $4"
        " WHERE user_id = $1 AND version = $2"
        " RETURNING version, algorithm, auth_data, etag, key_count AS count",
        user_id, version, added, int(changed),
    )
    return BackupVersion(**row)
