"""Migrations and the storage layer against a real PostgreSQL (embedded, or external in CI)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from homeserver.storage import devices, users
from homeserver.storage.migrate import available, current_version, migrate
from tests.conftest import _drop, _with_database


async def test_migrations_apply_once_and_are_recorded(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        latest = available()[-1].version
        assert await current_version(conn) == latest
        assert await migrate(conn) == [], "a migrated database has nothing left to apply"
        assert await conn.fetchval("SELECT count(*) FROM schema_version") == len(available())
        assert await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'") == 1
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _empty_database(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a new database with nothing in it, dropped afterwards."""
    name = f"hs_fresh_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    conn = await asyncpg.connect(_with_database(postgres_url, name))
    try:
        yield conn
    finally:
        await conn.close()
        await _drop(postgres_url, name)


async def test_fresh_database_migrates_from_zero(postgres_url: str) -> None:
    async with _empty_database(postgres_url) as conn:
        assert await current_version(conn) == 0
        applied = await migrate(conn)
        assert [m.version for m in applied] == [m.version for m in available()]


async def test_localpart_is_never_reused(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await users.insert_user(conn, "@a:x", "a", None, 1)
        await users.mark_deactivated(conn, "@a:x")
        assert not await users.insert_user(conn, "@a:x", "a", None, 2)
        assert await users.localpart_taken(conn, "a")
    finally:
        await conn.close()


async def test_deleting_a_device_deletes_its_tokens(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await users.insert_user(conn, "@b:x", "b", None, 1)
        await devices.upsert_device(conn, "@b:x", "D1", "phone", 1)
        await devices.insert_access_token(conn, b"h" * 32, "@b:x", "D1", 1)
        assert (await devices.lookup_access_token(conn, b"h" * 32)) is not None
        await devices.delete_devices(conn, "@b:x", ["D1"])
        assert (await devices.lookup_access_token(conn, b"h" * 32)) is None
    finally:
        await conn.close()


async def test_transaction_ids_move_to_their_endpoints(postgres_url: str) -> None:
    """0011 gives each stored client transaction its room and endpoint (send/{type} or
    redact/{eventId}, the old "redact/" prefix of the txnId gone)."""
    async with _empty_database(postgres_url) as conn:
        await conn.execute("CREATE TABLE schema_version ("
                           " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ts BIGINT NOT NULL)")
        for mig in available():
            if mig.version < 11:
                await conn.execute(mig.sql)
                await conn.execute("INSERT INTO schema_version VALUES ($1, $2, 0)", mig.version, mig.name)
        await conn.execute("INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!r', '11', 0)")
        for event_id, kind, content, ordering in (
            ("$m", "m.room.message", '{"body": "hi"}', 1), ("$x", "m.room.redaction", '{"redacts": "$m"}', 2),
        ):
            await conn.execute(
                "INSERT INTO events (event_id, room_id, stream_ordering, depth, type, sender, origin_server_ts, json,"
                " state_group) VALUES ($1, '!r', $2, 1, $3, '@a:x', 0, $4, 1)",
                event_id, ordering, kind, f'{{"type": "{kind}", "content": {content}}}')
        await conn.execute("INSERT INTO event_txn_ids VALUES ('@a:x', 'D', 't1', '$m', 0), ('@a:x', 'D', 'redact/t1', '$x', 0)")
        await migrate(conn)
        rows = await conn.fetch("SELECT event_id, room_id, endpoint, txn_id FROM event_txn_ids ORDER BY event_id")
        assert [tuple(r) for r in rows] == [("$m", "!r", "send/m.room.message", "t1"), ("$x", "!r", "redact/$m", "t1")]
