"""Slow and silent connections are closed, and connections are capped (server.header_timeout_ms,
body_timeout_ms, idle_timeout_ms, max_connections), over raw TCP; long-polls keep their own
timeout. Bounds are generous: these prove the connections end, not how fast."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlparse

from tests.conftest import StartServer
from tests.helpers import TestServer

LIMITS = {"server": {"header_timeout_ms": 1000, "body_timeout_ms": 1000, "idle_timeout_ms": 1500}}


async def _connect(server: TestServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlparse(server.url)
    return await asyncio.open_connection(url.hostname, url.port)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection, which it must do in time."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_a_request_head_sent_a_line_at_a_time_is_cut_off(start_server: StartServer) -> None:
    server = await start_server(LIMITS)
    reader, writer = await _connect(server)
    writer.write(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        for i in range(50):
            await asyncio.sleep(0.2)
            writer.write(f"X-Slow-{i}: y\r\n".encode())

    trickling = asyncio.create_task(trickle())
    started = time.monotonic()
    try:
        assert await _closed_within(reader, 6) == b""
    finally:
        trickling.cancel()
        writer.close()
    assert time.monotonic() - started < 6


async def test_silent_and_idle_keep_alive_connections_are_closed(start_server: StartServer) -> None:
    server = await start_server(LIMITS)
    silent_reader, silent = await _connect(server)
    reader, writer = await _connect(server)
    writer.write(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
    # The first answer, then nothing more: the idle keep-alive connection is closed.
    answered = await _closed_within(reader, 6)
    assert answered.startswith(b"HTTP/1.1 200")
    assert await _closed_within(silent_reader, 6) == b""
    silent.close()
    writer.close()


async def test_a_stalled_body_gets_408_and_the_connection_closes(start_server: StartServer) -> None:
    server = await start_server(LIMITS)
    reader, writer = await _connect(server)
    writer.write(b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"type\": ")
    answer = await _closed_within(reader, 6)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"M_UNKNOWN" in answer


async def test_an_upload_that_stalls_gets_408(start_server: StartServer) -> None:
    server = await start_server(LIMITS)
    alice = await server.register("alice")
    reader, writer = await _connect(server)
    writer.write(b"POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                 b"Authorization: Bearer " + alice.access_token.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
                 + b"x" * 1000)
    answer = await _closed_within(reader, 6)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


async def test_connections_past_the_limit_are_closed_at_once(start_server: StartServer) -> None:
    server = await start_server({"server": {"max_connections": 3}})
    held = [await _connect(server) for _ in range(3)]
    reader, writer = await _connect(server)
    assert await _closed_within(reader, 3) == b""
    writer.close()
    # The held ones are still served, and once one goes, a new one is too.
    held[0][1].write(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await _closed_within(held[0][0], 5)).startswith(b"HTTP/1.1 200")
    held[0][1].close()
    await asyncio.sleep(0.2)
    assert (await server.request("GET", "/_matrix/client/versions")).status == 200
    for _, w in held[1:]:
        w.close()


async def test_a_long_poll_outlives_the_idle_timeout(start_server: StartServer) -> None:
    server = await start_server(LIMITS)
    alice = await server.register("alice")
    first = await alice.get("sync")
    started = time.monotonic()
    resp = await alice.get("sync", params={"since": first.body["next_batch"], "timeout": "3000"})
    assert resp.status == 200
    assert time.monotonic() - started >= 2.5, "the long-poll waited its own timeout"


async def test_a_malformed_request_gets_a_matrix_error(server: TestServer) -> None:
    reader, writer = await _connect(server)
    writer.write(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX-Bad: \x00\r\n\r\n")
    answer = await _closed_within(reader, 5)
    writer.close()
    assert answer.split(b" ", 2)[1] == b"400", answer[:100]  # aiohttp answers these as HTTP/1.0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head and json.loads(body)["errcode"] == "M_UNKNOWN"
