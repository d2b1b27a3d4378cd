"""The asyncpg pool, its codecs, where the PostgreSQL server comes from, and what happens
while it is unreachable.

A lost database (the embedded postmaster killed, the external server restarting, the
network down) makes requests that need it answer 503 (api/middleware.py, through
``unavailable``) instead of 500; ``Database.lost`` logs it once and probes until the
server answers again, and logs that too. The embedded server is also watched and
restarted (storage/embedded.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from homeserver.config import Config
from homeserver.storage.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)


class DatabaseUnreachable(asyncpg.PostgresConnectionError):
    """A new connection to the database server could not be made."""


# What an unreachable or lost database server looks like to asyncpg's callers.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # DatabaseUnreachable, a connection lost mid-query
    asyncpg.exceptions.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A pooled connection whose server died under it can be left in a protocol state
    # asyncpg refuses to leave ("cannot switch to state 15"); the pool replaces it.
    asyncpg.exceptions.InternalClientError,
)


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database server cannot be reached (503, not a bug)."""
    if isinstance(error, _UNAVAILABLE):
        return True
    # A transaction or query on a connection that lost its server on the way.
    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error)


# A new connection that takes longer is given up (asyncpg's default waits a minute).
CONNECT_TIMEOUT_S = 10
PROBE_INTERVAL_S = 1.0
# Start-up retries: a database that is starting too (a container, a restarted postmaster).
START_ATTEMPTS = 8


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every release: it costs a round trip per query, and
    this code leaves no session state on a pooled connection (migrate releases its
    advisory lock itself; nothing LISTENs on pooled connections)."""


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (OSError, asyncio.TimeoutError) as e:  # refused, no socket, unreachable host
        raise DatabaseUnreachable(f"cannot connect to the database: {e}") from e


@dataclass
class Database:
    pool: asyncpg.Pool
    url: str
    server_settings: dict[str, str]
    embedded: EmbeddedPostgres | None = None
    # Set while the server is known to be unreachable: the task probing for its return.
    _probe: asyncio.Task[None] | None = field(default=None, repr=False)
    _watch: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def connect(
        cls, url: str, min_size: int = 2, max_size: int = 20, synchronous_commit: bool = True
    ) -> Database:
        settings = {"synchronous_commit": "on" if synchronous_commit else "off"}
        for attempt in range(START_ATTEMPTS):
            try:
                pool = await asyncpg.create_pool(
                    url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
                    connect=_connect, timeout=CONNECT_TIMEOUT_S, server_settings=settings,
                )
                return cls(pool, url, settings)
            except Exception as e:
                if not unavailable(e) or attempt == START_ATTEMPTS - 1:
                    raise
                delay = 0.25 * 2**attempt
                log.warning("database not reachable at start-up (%s); retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def connect_one(self, application_name: str = "homeserver") -> asyncpg.Connection:
        """A connection of its own, outside the pool (the change feed's LISTEN and
        session locks live on one for as long as it lasts)."""
        settings = {**self.server_settings, "application_name": application_name}
        conn = await _connect(self.url, server_settings=settings, timeout=CONNECT_TIMEOUT_S)
        await _init_connection(conn)
        return conn

    @classmethod
    async def open(cls, config: Config) -> Database:
        """Connect to ``database.url``, or start the embedded server under the data directory."""
        embedded = None
        url = config.database.url
        if url is None:
            embedded = await EmbeddedPostgres.start(config.path(config.database.embedded_dir))
            url = embedded.url
        try:
            db = await cls.connect(
                url, config.database.pool_min_size, config.database.pool_max_size, config.database.synchronous_commit
            )
        except BaseException:
            if embedded is not None:
                await embedded.stop()
            raise
        db.embedded = embedded
        if embedded is not None:
            db._watch = asyncio.get_running_loop().create_task(db._supervise(embedded), name="embedded-postgres")
        return db

    def lost(self, error: BaseException) -> None:
        """A request found the database unreachable: say so once, and probe until it is back."""
        if self._probe is None or self._probe.done():
            log.error("database unreachable (%s: %s): answering 503 until it is back", type(error).__name__, error)
            self._probe = asyncio.get_running_loop().create_task(self._until_back(), name="database-probe")

    async def _until_back(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            try:
                async with self.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            except Exception as e:
                if unavailable(e):
                    continue
                raise
            log.warning("database reachable again")
            return

    async def _supervise(self, embedded: EmbeddedPostgres) -> None:
        """Restart the embedded postmaster whenever it dies (killed, crashed, OOM)."""
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            if embedded.alive():
                continue
            log.error("embedded PostgreSQL in %s stopped unexpectedly; restarting it", embedded.pgdata)
            await embedded.restart()
            await self.pool.expire_connections()  # those to the dead server are useless
            log.warning("embedded PostgreSQL restarted: the database is back")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.pool.fetchval(query, *args)

    async def close(self) -> None:
        for task in (self._watch, self._probe):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.pool.close()
        if self.embedded is not None:
            await self.embedded.stop()
