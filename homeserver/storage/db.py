"""The asyncpg pool, its codecs, and where the PostgreSQL server comes from."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from homeserver.config import Config
from homeserver.storage.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every release: it costs a round trip per query, and
    this code leaves no session state on a pooled connection (migrate releases its
    advisory lock itself; nothing LISTENs on pooled connections)."""


@dataclass
class Database:
    pool: asyncpg.Pool
    url: str
    server_settings: dict[str, str]
    embedded: EmbeddedPostgres | None = None

    @classmethod
    async def connect(
        cls, url: str, min_size: int = 2, max_size: int = 20, synchronous_commit: bool = True
    ) -> Database:
        settings = {"synchronous_commit": "on" if synchronous_commit else "off"}
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
            server_settings=settings,
        )
        return cls(pool, url, settings)

    async def connect_one(self, application_name: str = "homeserver") -> asyncpg.Connection:
        """A connection of its own, outside the pool (the change feed's LISTEN and
        session locks live on one for as long as it lasts)."""
        settings = {**self.server_settings, "application_name": application_name}
        conn = await asyncpg.connect(self.url, server_settings=settings)
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
        return db

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.pool.fetchval(query, *args)

    async def close(self) -> None:
        await self.pool.close()
        if self.embedded is not None:
            await self.embedded.stop()
