"""Device identity keys, one-time keys and fallback keys (migration 0030)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    user_id: str
    device_id: str
    display_name: str | None
    key_json: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OneTimeKey:
    """A key to upload, or one a claim handed out (``key_id`` is ``algorithm:id``)."""

    user_id: str
    device_id: str
    algorithm: str
    key_id: str
    key_json: Any


# -- device keys ----------------------------------------------------------------------


async def get_device_keys(conn: Conn, user_id: str, device_id: str) -> dict[str, Any] | None:
    return await conn.fetchval(
        "SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2", user_id, device_id
    )


async def set_device_keys(conn: Conn, user_id: str, device_id: str, key_json: dict[str, Any]) -> bool:
    """Store the device's keys; False when exactly these were stored already. New keys
    void the signatures others made on the old ones."""
    changed = await conn.fetchval(
        "INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json"
        " WHERE e2e_device_keys.key_json IS DISTINCT FROM EXCLUDED.key_json RETURNING TRUE",
        user_id, device_id, key_json,
    )
    if changed:
        await conn.execute(
            "DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id = $2", user_id, device_id
        )
    return bool(changed)


async def query_device_keys(conn: Conn, wanted: dict[str, Sequence[str]]) -> list[DeviceKeys]:
    """The keys of the named devices; an empty list of device IDs means all the user's."""
    pairs = [(u, d) for u, devices in wanted.items() for d in (devices or [None])]
    rows = await conn.fetch(
        "SELECT k.user_id, k.device_id, d.display_name, k.key_json"
        " FROM unnest($1::text[], $2::text[]) AS w(user_id, device_id)"
        " JOIN e2e_device_keys k ON k.user_id = w.user_id AND (w.device_id IS NULL OR k.device_id = w.device_id)"
        " JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id",
        [p[0] for p in pairs], [p[1] for p in pairs],
    )
    # A device named twice is found twice.
    found = {(r["user_id"], r["device_id"]): DeviceKeys(**r) for r in rows}
    return [found[k] for k in sorted(found)]


async def delete_device_keys(conn: Conn, user_id: str, device_ids: Sequence[str] | None) -> bool:
    """Delete the devices' keys and the signatures on them (None: all the user's devices);
    True if any of them had identity keys (deleting those is a device-list change)."""
    devices = None if device_ids is None else list(device_ids)
    for table in ("e2e_one_time_keys", "e2e_fallback_keys"):
        await conn.execute(
            f"DELETE FROM {table} WHERE user_id = $1 AND ($2::text[] IS NULL OR device_id = ANY($2::text[]))",
            user_id, devices,
        )
    deleted = await conn.fetch(
        "DELETE FROM e2e_device_keys WHERE user_id = $1 AND ($2::text[] IS NULL OR device_id = ANY($2::text[]))"
        " RETURNING device_id",
        user_id, devices,
    )
    if deleted:
        await conn.execute(
            "DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id = ANY($2::text[])",
            user_id, [r["device_id"] for r in deleted],
        )
    return bool(deleted)


async def devices_named(conn: Conn, user_id: str, names: Sequence[str]) -> bool:
    """Whether any of the user's devices has one of these IDs."""
    return bool(await conn.fetchval(
        "SELECT TRUE FROM devices WHERE user_id = $1 AND device_id = ANY($2::text[]) LIMIT 1", user_id, list(names)
    ))


# -- one-time and fallback keys ---------------------------------------------------------


async def existing_one_time_keys(conn: Conn, user_id: str, device_id: str, key_ids: Iterable[str]) -> dict[str, Any]:
    """Of these ``algorithm:id`` names, the ones the device has uploaded, with their keys."""
    rows = await conn.fetch(
        "SELECT algorithm || ':' || key_id AS name, key_json FROM e2e_one_time_keys"
        " WHERE user_id = $1 AND device_id = $2 AND algorithm || ':' || key_id = ANY($3::text[])",
        user_id, device_id, list(key_ids),
    )
    return {r["name"]: r["key_json"] for r in rows}


async def add_one_time_keys(conn: Conn, keys: Sequence[OneTimeKey]) -> None:
    """Add keys (those uploaded before, unchanged, are kept as they are)."""
    await conn.execute(
        "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])"
        " ON CONFLICT DO NOTHING",
        [k.user_id for k in keys], [k.device_id for k in keys], [k.algorithm for k in keys],
        [k.key_id.partition(":")[2] for k in keys], [k.key_json for k in keys],
    )


async def count_one_time_keys(conn: Conn, user_id: str, device_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT algorithm, count(*) AS n FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2"
        " GROUP BY algorithm",
        user_id, device_id,
    )
    return {r["algorithm"]: r["n"] for r in rows}


async def set_fallback_keys(conn: Conn, keys: Sequence[OneTimeKey]) -> None:
    """Replace the device's fallback key of each algorithm; re-uploading the same key
    keeps whether it was used."""
    await conn.execute(
        "INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])"
        " ON CONFLICT (user_id, device_id, algorithm) DO UPDATE"
        " SET key_id = EXCLUDED.key_id, key_json = EXCLUDED.key_json, used = FALSE"
        " WHERE (e2e_fallback_keys.key_id, e2e_fallback_keys.key_json)"
        "  IS DISTINCT FROM (EXCLUDED.key_id, EXCLUDED.key_json)",
        [k.user_id for k in keys], [k.device_id for k in keys], [k.algorithm for k in keys],
        [k.key_id.partition(":")[2] for k in keys], [k.key_json for k in keys],
    )


# One statement, so that concurrent claims never hand out the same key: each wanted
# (user, device, algorithm) locks its oldest key, skipping keys another claim has
# locked, and the same statement deletes what it locked.
_CLAIM = """
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS w(user_id, device_id, algorithm)
), picked AS (
    SELECT k.id FROM wanted w, LATERAL (
        SELECT id FROM e2e_one_time_keys o
        WHERE o.user_id = w.user_id AND o.device_id = w.device_id AND o.algorithm = w.algorithm
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
    ) k
)
DELETE FROM e2e_one_time_keys o USING picked p WHERE o.id = p.id
RETURNING o.user_id, o.device_id, o.algorithm, o.algorithm || ':' || o.key_id AS key_id, o.key_json
"""

_CLAIM_FALLBACK = """
UPDATE e2e_fallback_keys f SET used = TRUE
FROM unnest($1::text[], $2::text[], $3::text[]) AS w(user_id, device_id, algorithm)
WHERE f.user_id = w.user_id AND f.device_id = w.device_id AND f.algorithm = w.algorithm
RETURNING f.user_id, f.device_id, f.algorithm, f.algorithm || ':' || f.key_id AS key_id, f.key_json
"""


async def claim_keys(conn: Conn, wanted: Sequence[tuple[str, str, str]]) -> list[OneTimeKey]:
    """One key per (user_id, device_id, algorithm): the oldest one-time key, else the
    fallback key (which stays, marked used); none where the device has neither."""
    claimed = [OneTimeKey(**r) for r in await conn.fetch(_CLAIM, *_columns(wanted))]
    got = {(k.user_id, k.device_id, k.algorithm) for k in claimed}
    rest = [w for w in wanted if w not in got]
    if rest:
        claimed += [OneTimeKey(**r) for r in await conn.fetch(_CLAIM_FALLBACK, *_columns(rest))]
    return claimed


def _columns(rows: Sequence[tuple[str, str, str]]) -> tuple[list[str], list[str], list[str]]:
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
