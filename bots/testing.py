"""A pytest plugin: a real homeserver (ours) per test, and ready users with clients.

Installed with the package (the ``pytest11`` entry point ``matrix_homeserver``), so a bot
author's tests need no set-up of their own::

    async def test_echo(matrix_server):
        alice = await matrix_server.create_user("alice")
        bot = await matrix_server.create_user("echo")
        ...

Fixtures:

* ``matrix_server``: a homeserver serving real HTTP on loopback, on a fresh database
  (copied from a migrated template), with cheap password hashing and rate limits off.
  ``create_user()`` registers a user and hands back a logged-in ``clientapi.Client``;
  ``restart()`` stops and starts it on the same address and database.
* ``matrix_server_config``: override it to change the config (``{"rate_limits": ...}``).
* ``start_matrix_server``: a factory for servers with their own config overrides.
* ``matrix_user``: one ready user on ``matrix_server``.

And ``running_bot(bot)``, a context manager that runs a bot for the length of a block,
and ``TestUser.wait_for(predicate)``, which syncs until a matching event arrives.
* ``matrix_postgres_url`` (session): the embedded PostgreSQL, started once per session,
  or the server named by ``HOMESERVER_TEST_DATABASE_URL``.

This module lives in ``bots`` (not ``clientapi``, which must never import the server)
and imports ``homeserver`` only inside the fixtures, so loading the plugin costs nothing
in test runs that never ask for a server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import os
import secrets
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clientapi import Client, Event, RetryPolicy

pytest_asyncio: Any
try:
    import pytest_asyncio
except ImportError:  # the fixtures then tell the user what is missing
    pytest_asyncio = None

# Cheap hashing keeps tests fast; production keeps argon2id's recommended cost.
BASE_CONFIG: dict[str, Any] = {
    "server": {"server_name": "test.local"},
    "auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}},
    "rate_limits": {"enabled": False},
    # Tests never cut the power: no disk flush per commit.
    "database": {"synchronous_commit": False},
}
DEFAULT_PASSWORD = "correct horse battery staple"
# Tests want a failure fast: a few quick retries, not minutes of patience.
TEST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.05, backoff_max=0.5, rate_limit_wait=60.0)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, nested sections merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class TestUser:
    __test__ = False  # not a pytest test class

    user_id: str
    localpart: str
    password: str
    client: Client
    # Every room event this user's ``wait_for`` has seen, in order.
    seen: list[Event] = field(default_factory=list)

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        """Sync as this user until a room event matching ``predicate`` arrives (or one
        already seen matches); fails the test after ``timeout`` seconds."""
        for event in self.seen:
            if predicate(event):
                return event
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                pytest.fail(f"{self.user_id}: no matching event within {timeout} s")
            response = await self.client.sync_once(timeout_ms=int(min(left, 5.0) * 1000), dispatch=False)
            for update in response.joined:
                self.seen.extend(update.timeline)
                for event in update.timeline:
                    if predicate(event):
                        return event

    async def sync(self) -> None:
        """Catch up once (no waiting), recording what arrives in ``seen``."""
        response = await self.client.sync_once(dispatch=False)
        for update in response.joined:
            self.seen.extend(update.timeline)


@dataclass
class MatrixTestServer:
    """One of our homeservers, in this process, serving real HTTP on loopback."""

    __test__ = False

    raw_config: dict[str, Any]
    data_dir: str
    port: int
    hs: Any = None  # homeserver.server.HomeServer while running
    _runner: Any = None
    _clients: list[Client] = field(default_factory=list)
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server_name(self) -> str:
        return str(self.raw_config["server"]["server_name"])

    @property
    def shared_secret(self) -> str:
        return str(self.raw_config["registration"]["shared_secret"])

    async def start(self) -> None:
        from aiohttp import web

        from homeserver.app import build_app
        from homeserver.config import parse_config
        from homeserver.server import HomeServer

        self.hs = await HomeServer.start(parse_config(self.raw_config, data_dir=self.data_dir))
        # A stop cuts parked long-polls after half a second instead of waiting them out.
        self._runner = web.AppRunner(build_app(self.hs), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop serving (clients see connection errors until ``start()``)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.hs is not None:
            await self.hs.close()
            self.hs = None

    async def restart(self, downtime: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(downtime)
        await self.start()

    def client(self, **kwargs: Any) -> Client:
        """A new, not yet logged-in client of this server (closed after the test)."""
        client = Client(self.url, **{"retry": TEST_RETRY, **kwargs})
        self._clients.append(client)
        return client

    async def create_user(self, localpart: str | None = None, *, password: str = DEFAULT_PASSWORD,
                          admin: bool = False, displayname: str | None = None, **client_kwargs: Any) -> TestUser:
        """Register a user (an admin through shared-secret registration, as
        ``register_new_matrix_user`` does) and return it with a logged-in client."""
        localpart = localpart or f"user{next(self._names)}"
        client = self.client(**client_kwargs)
        if admin:
            await self._register_admin(localpart, password)
            await client.login(localpart, password)
        else:
            await client.register(localpart, password)
        if displayname is not None:
            await client.set_displayname(displayname)
        return TestUser(client.user_id, localpart, password, client)

    async def login(self, user: TestUser, **login_kwargs: Any) -> Client:
        """Another device of ``user``: a new client, logged in."""
        client = self.client()
        await client.login(user.localpart, user.password, **login_kwargs)
        return client

    async def _register_admin(self, localpart: str, password: str) -> None:
        await register_admin(self.url, self.shared_secret, localpart, password)

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        await self.stop()


async def register_admin(url: str, shared_secret: str, localpart: str, password: str) -> None:
    """Shared-secret registration of a server admin (``/_synapse/admin/v1/register``, the
    HMAC-SHA1 scheme Synapse's ``register_new_matrix_user`` uses)."""
    import aiohttp

    path = url + "/_synapse/admin/v1/register"
    async with aiohttp.ClientSession() as session:
        async with session.get(path) as resp:
            nonce = (await resp.json())["nonce"]
        mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join(part.encode() for part in (nonce, localpart, password, "admin")))
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": True, "mac": mac.hexdigest()}
        async with session.post(path, json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"admin registration failed: {resp.status} {await resp.text()}")


@asynccontextmanager
async def running_bot(bot: Any) -> AsyncIterator[Any]:
    """Run ``bot`` (a ``bots.Bot``) for the duration of the block: it has synced once
    when the block starts (so what is sent in it is answered), and has stopped, its
    position saved, when the block ends."""
    task = asyncio.create_task(bot.run())
    while bot.client.next_batch is None and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # it failed to start: say why
    try:
        yield bot
    finally:
        bot.client.stop()
        await asyncio.wait_for(task, 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, database: str) -> str:
    base, sep, rest = url.partition("?")
    prefix = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{prefix}/{database}{sep}{rest}"


async def _admin_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def matrix_postgres_url() -> Any:
    """A PostgreSQL server for the session's test databases."""
    url = os.environ.get("HOMESERVER_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    # Not under pytest's tmp_path: pytest prunes old numbered temp dirs, which would pull
    # the data directory from under a concurrent test run's server.
    parent = Path(tempfile.mkdtemp(prefix="matrix-test-pg-"))
    server = pgserver.get_server(parent / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def matrix_template_database(matrix_postgres_url: str) -> Any:
    """A migrated database that each test's database is copied from."""
    from homeserver.storage.migrate import migrate

    name = f"matrix_template_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        import asyncpg

        await _admin_execute(matrix_postgres_url, f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
        conn = await asyncpg.connect(with_database(matrix_postgres_url, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(create())
    yield name
    asyncio.run(_admin_execute(matrix_postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def matrix_server_config() -> dict[str, Any]:
    """Config overrides for ``matrix_server``; override this fixture to change them."""
    return {}


StartServer = Callable[..., Awaitable[MatrixTestServer]]


def _async_fixture(function: Any) -> Any:
    if pytest_asyncio is None:
        def missing(*args: Any, **kwargs: Any) -> Any:
            pytest.fail("the matrix_* fixtures need pytest-asyncio (pip install pytest-asyncio)")
        missing.__name__ = function.__name__
        return pytest.fixture(missing)
    return pytest_asyncio.fixture(function)


@_async_fixture
async def start_matrix_server(matrix_postgres_url: str, matrix_template_database: str,
                              tmp_path_factory: Any) -> AsyncIterator[StartServer]:
    """``await start_matrix_server({...overrides})``: a server on a fresh database."""
    started: list[tuple[MatrixTestServer, str]] = []

    async def start(overrides: dict[str, Any] | None = None) -> MatrixTestServer:
        name = f"matrix_test_{uuid.uuid4().hex[:12]}"
        await _admin_execute(matrix_postgres_url, f"CREATE DATABASE {name} TEMPLATE {matrix_template_database}")
        raw = merge(merge(BASE_CONFIG, {"registration": {"shared_secret": secrets.token_urlsafe(16)}}),
                    overrides or {})
        raw = merge(raw, {"database": {"url": with_database(matrix_postgres_url, name)}})
        server = MatrixTestServer(raw, str(tmp_path_factory.mktemp("homeserver")), free_port())
        started.append((server, name))
        await server.start()
        return server

    yield start
    for server, name in reversed(started):
        await server.close()
        await _admin_execute(matrix_postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@_async_fixture
async def matrix_server(start_matrix_server: StartServer, matrix_server_config: dict[str, Any]) -> MatrixTestServer:
    """A homeserver for this test (see the module docstring)."""
    return await start_matrix_server(matrix_server_config)


@_async_fixture
async def matrix_user(matrix_server: MatrixTestServer) -> TestUser:
    """A registered user of ``matrix_server`` with a logged-in ``client``."""
    return await matrix_server.create_user()
