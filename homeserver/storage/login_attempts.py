"""Login attempts per account and per client address (``login_attempts``), shared by every
server process on the database. An attempt is reserved before the password is checked,
in one transaction that locks the keys' rows, so concurrent guesses are all counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Limits:
    max_attempts: int
    window_ms: int
    lockout_ms: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """An attempt counted, or refused: ``retry_after_ms`` > 0 when a key is locked out
    (nothing was counted then). ``earlier`` is the most attempts any key had before."""

    retry_after_ms: int
    earlier: int


# Rows past their expiry are deleted a few at a time by each reservation.
_PRUNE = 20


async def reserve(conn: asyncpg.Connection, keys: Sequence[str], now_ms: int, limits: Limits) -> Reservation:
    """Count one attempt against every key, unless one of them is locked out. The caller
    holds ``conn`` in a transaction; the keys' rows stay locked until it ends."""
    await conn.execute(
        "DELETE FROM login_attempts WHERE key IN"
        " (SELECT key FROM login_attempts WHERE expires_ts < $1 ORDER BY expires_ts LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now_ms, _PRUNE,
    )
    await conn.execute(
        "INSERT INTO login_attempts (key, attempts, window_start, locked_until, expires_ts)"
        " SELECT k, 0, $2, 0, $2 FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING",
        list(keys), now_ms,
    )
    rows = await conn.fetch(
        "SELECT key, attempts, window_start, locked_until FROM login_attempts WHERE key = ANY($1::text[])"
        " ORDER BY key FOR UPDATE",
        list(keys),
    )
    locked_until = max((r["locked_until"] for r in rows), default=0)
    if locked_until > now_ms:
        return Reservation(locked_until - now_ms, max(r["attempts"] for r in rows))
    earlier = 0
    updates: list[tuple[str, int, int, int]] = []
    for r in rows:
        fresh = now_ms - r["window_start"] >= limits.window_ms
        attempts, start = (0, now_ms) if fresh else (r["attempts"], r["window_start"])
        earlier = max(earlier, attempts)
        attempts += 1
        updates.append((r["key"], attempts, start, now_ms + limits.lockout_ms if attempts >= limits.max_attempts else 0))
    await _write(conn, updates, limits)
    return Reservation(0, earlier)


async def refund(conn: asyncpg.Connection | asyncpg.Pool, forget: str, refund_keys: Sequence[str], limits: Limits) -> None:
    """A successful attempt: ``forget`` (the account) starts afresh; each of
    ``refund_keys`` (the address) gets its attempt back, and is no longer locked out by it."""
    await conn.execute(
        "WITH f AS (DELETE FROM login_attempts WHERE key = $1)"
        " UPDATE login_attempts SET attempts = GREATEST(attempts - 1, 0),"
        "  locked_until = CASE WHEN attempts - 1 >= $3 THEN locked_until ELSE 0 END"
        " WHERE key = ANY($2::text[])",
        forget, list(refund_keys), limits.max_attempts,
    )


async def _write(conn: asyncpg.Connection, updates: list[tuple[str, int, int, int]], limits: Limits) -> None:
    keys, attempts, starts, locks = (list(column) for column in zip(*updates)) if updates else ([], [], [], [])
    await conn.execute(
        "UPDATE login_attempts l SET attempts = u.attempts, window_start = u.start, locked_until = u.locked,"
        " expires_ts = GREATEST(u.start + $5, u.locked)"
        " FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) AS u(key, attempts, start, locked)"
        " WHERE l.key = u.key",
        keys, attempts, starts, locks, limits.window_ms,
    )
