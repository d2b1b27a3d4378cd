"""Cross-signing keys and the signatures uploaded on keys (migration 0030)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

MASTER = "master"
SELF_SIGNING = "self_signing"
USER_SIGNING = "user_signing"
KEY_TYPES = (MASTER, SELF_SIGNING, USER_SIGNING)


@dataclass(frozen=True, slots=True)
class CrossSigningKey:
    user_id: str
    key_type: str
    public_key: str
    key_json: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Signature:
    target_user_id: str
    target_key_id: str
    signer_user_id: str
    signer_key_id: str
    signature: str


async def get_keys(conn: Conn, user_ids: Sequence[str], key_types: Sequence[str] = KEY_TYPES) -> list[CrossSigningKey]:
    rows = await conn.fetch(
        "SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys"
        " WHERE user_id = ANY($1::text[]) AND key_type = ANY($2::text[])",
        list(user_ids), list(key_types),
    )
    return [CrossSigningKey(**r) for r in rows]


async def lock_keys(conn: asyncpg.Connection, user_id: str) -> dict[str, CrossSigningKey]:
    """The user's keys by type, locked until the transaction ends (so two uploads of
    new keys for one user happen one after the other)."""
    await conn.execute("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE", user_id)
    return {k.key_type: k for k in await get_keys(conn, [user_id])}


async def set_keys(conn: Conn, keys: Iterable[CrossSigningKey]) -> None:
    """Store keys, replacing the user's key of the same type and the signatures on it."""
    for key in keys:
        await conn.execute(
            "DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id IN ("
            " SELECT public_key FROM e2e_cross_signing_keys WHERE user_id = $1 AND key_type = $2 AND public_key <> $3)",
            key.user_id, key.key_type, key.public_key,
        )
        await conn.execute(
            "INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (user_id, key_type) DO UPDATE"
            " SET public_key = EXCLUDED.public_key, key_json = EXCLUDED.key_json",
            key.user_id, key.key_type, key.public_key, key.key_json,
        )


async def is_cross_signing_key(conn: Conn, user_id: str, public_key: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT TRUE FROM e2e_cross_signing_keys WHERE user_id = $1 AND public_key = $2", user_id, public_key
    ))


async def add_signatures(conn: Conn, signatures: Sequence[Signature]) -> None:
    await conn.execute(
        "INSERT INTO e2e_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
        " ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id)"
        " DO UPDATE SET signature = EXCLUDED.signature",
        [s.target_user_id for s in signatures], [s.target_key_id for s in signatures],
        [s.signer_user_id for s in signatures], [s.signer_key_id for s in signatures],
        [s.signature for s in signatures],
    )


async def visible_signatures(conn: Conn, target_user_ids: Sequence[str], reader: str | None) -> list[Signature]:
    """Signatures on these users' keys that ``reader`` may see (spec: "Key and signature
    security"): those made by the key's owner, and those made by the reader (None: a
    remote server asking, which sees the owner's only)."""
    rows = await conn.fetch(
        "SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_signatures"
        " WHERE target_user_id = ANY($1::text[]) AND (signer_user_id = target_user_id OR signer_user_id = $2)",
        list(target_user_ids), reader,
    )
    return [Signature(**r) for r in rows]
