"""An external database that goes away: requests that need it answer 503 M_UNKNOWN with
Retry-After (never 500), requests that do not keep working, the loss and the return are
logged, and service resumes by itself. The database is reached through a TCP relay the
test cuts and restores: a real network failure in front of a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import make_config
from tests.helpers import start_test_server


class Relay:
    """Listens on a loopback port and pipes each connection to PostgreSQL until cut."""

    def __init__(self, target_url: str) -> None:
        self._target = urlparse(target_url)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = parse_qs(self._target.query).get("host", [None])[0]
        if socket_dir:
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{self._target.port or 5432}")
        return await asyncio.open_connection(self._target.hostname, self._target.port or 5432)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await self._open_target()
        self._pipes |= {writer, target_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._pipes:
            writer.close()
        self._pipes.clear()
        await self._server.wait_closed()

    def url(self, database: str) -> str:
        return f"postgresql://{self._target.username or 'postgres'}@127.0.0.1:{self.port}/{database}"


async def _status(server: Any, path: str, token: str | None = None) -> tuple[int, Any, str | None]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with server.session.get(server.url + path, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers.get("Retry-After")


async def test_an_unreachable_database_is_503_with_retry_after_until_it_is_back(
    database_url: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    relay = Relay(database_url)
    await relay.start()
    config = make_config(database_url, str(tmp_path))
    database = urlparse(database_url).path.lstrip("/")
    config = dataclasses.replace(config, database=dataclasses.replace(config.database, url=relay.url(database)))
    server = await start_test_server(config)
    try:
        alice = await server.register("alice")
        caplog.set_level(logging.WARNING, logger="homeserver.storage.db")
        await relay.cut()

        for _ in range(3):
            status, body, retry_after = await _status(server, "/_matrix/client/v3/account/whoami", "not cached")
            assert status == 503 and body["errcode"] == "M_UNKNOWN", body
            assert retry_after is not None and int(retry_after) > 0
        assert (await _status(server, "/_matrix/client/versions"))[0] == 200, "what needs no database still works"
        assert any("database unreachable" in r.getMessage() for r in caplog.records)

        await relay.start()  # the same port: the pool reconnects by itself
        for _ in range(100):
            if (await _status(server, "/_matrix/client/v3/account/whoami", alice.access_token))[0] == 200:
                break
            await asyncio.sleep(0.1)
        assert (await _status(server, "/_matrix/client/v3/account/whoami", alice.access_token))[0] == 200
        for _ in range(50):
            if any("reachable again" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.1)
        assert any("reachable again" in r.getMessage() for r in caplog.records)
    finally:
        await server.close()
        with contextlib.suppress(Exception):
            await relay.cut()
