"""The transport's retries, against a real HTTP server on loopback that misbehaves on
purpose (429s, 5xx, dropped connections, answers that are not JSON)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from clientapi import Client, LimitExceeded, MalformedResponse, NotFound, RetryPolicy, ServerError, TransportError
from clientapi.api import media, rooms
from clientapi.api.request import Request
from clientapi.transport import Transport

FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, rate_limit_wait=5.0)


class Flaky:
    """A server whose answers are scripted: each call pops the next behaviour."""

    def __init__(self) -> None:
        self.script: list[Callable[[web.Request], Any]] = []
        self.requests: list[tuple[str, str, bytes]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, await request.read()))
        behaviour = self.script.pop(0) if self.script else ok
        result = behaviour(request)
        return await result if asyncio.iscoroutine(result) else result


def ok(request: web.Request) -> web.Response:
    return web.json_response({"event_id": "$1", "path": request.path})


def limited(ms: int | None = 50, header: str | None = None) -> Callable[[web.Request], web.Response]:
    body = {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", **({"retry_after_ms": ms} if ms is not None else {})}
    return lambda request: web.json_response(body, status=429, headers={"Retry-After": header} if header else None)


def status(code: int, text: str = "oops") -> Callable[[web.Request], web.Response]:
    return lambda request: web.Response(status=code, text=text)


async def drop(request: web.Request) -> web.StreamResponse:
    # The request arrived; the answer never does (the connection is cut).
    assert request.transport is not None
    request.transport.close()
    return web.Response()


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, str]]:
    server = Flaky()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield server, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def perform(url: str, request: Request, **kwargs: Any) -> Any:
    transport = Transport(url, retry=kwargs.pop("retry", FAST), **kwargs)
    try:
        return await transport.perform(request, "token")
    finally:
        await transport.close()


SEND = rooms.send_event("!r:s", "m.room.message", {"body": "x"}, "txn1")


async def test_429_is_retried_after_the_wait_it_asks_for(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [limited(120), limited(120)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await perform(url, SEND))["event_id"] == "$1"
    assert loop.time() - started >= 0.24
    # The same transaction ID every time: the server can deduplicate.
    assert [path for _, path, _ in server.requests] == [server.requests[0][1]] * 3
    assert server.requests[0][1].endswith("/send/m.room.message/txn1")


async def test_retry_after_header_when_the_body_has_no_wait(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.script = [limited(None, header="2")]
    await perform(url, SEND, sleep=sleep)
    assert len(waits) == 1 and 2.0 <= waits[0] <= 2.5


async def test_429_gives_up_past_its_budget(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [limited(60_000)]
    with pytest.raises(LimitExceeded) as e:
        await perform(url, SEND)
    assert e.value.retry_after_ms == 60_000 and len(server.requests) == 1


async def test_5xx_and_dropped_connections_are_retried_for_idempotent_requests(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [status(502), drop, status(503)]
    assert (await perform(url, SEND))["event_id"] == "$1"
    assert len(server.requests) == 4 and len({path for _, path, _ in server.requests}) == 1


async def test_retries_are_bounded(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [status(500, "broken")] * 10
    with pytest.raises(ServerError) as e:
        await perform(url, SEND)
    assert e.value.status == 500 and len(server.requests) == FAST.max_retries + 1


async def test_backoff_grows_with_jitter_and_a_cap(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.script = [status(500)] * 5
    policy = RetryPolicy(max_retries=5, backoff_base=1.0, backoff_max=4.0, jitter=0.25)
    await perform(url, SEND, retry=policy, sleep=sleep)
    assert [int(w) for w in waits] == [1, 2, 4, 4, 4]
    assert all(base <= w <= base * 1.25 for w, base in zip(waits, [1, 2, 4, 4, 4]))


async def test_not_idempotent_requests_are_not_repeated_after_they_may_have_arrived(
        flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [status(502)]
    with pytest.raises(ServerError):
        await perform(url, rooms.create_room({}))
    server.script = [drop]
    with pytest.raises(TransportError):
        await perform(url, media.upload(b"data", "text/plain"))
    assert len(server.requests) == 2
    # A 429 means the server did nothing: that is always safe to retry.
    server.script = [limited(10)]
    await perform(url, rooms.create_room({}))
    assert len(server.requests) == 4


async def test_a_server_that_is_not_there(unused_port: int) -> None:
    with pytest.raises(TransportError, match="ClientConnectorError"):
        await perform(f"http://127.0.0.1:{unused_port}", rooms.create_room({}))


async def test_answers_that_are_not_json(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [lambda request: web.Response(text="<html>hello</html>")]
    with pytest.raises(MalformedResponse, match="PUT /_matrix/client/v3/rooms/.*: the answer is not JSON"):
        await perform(url, SEND)
    server.script = [lambda request: web.Response(status=404, text="no such page")]
    with pytest.raises(NotFound, match="no such page"):
        await perform(url, SEND)


async def test_429s_hold_back_other_requests_of_the_same_kind(flaky: tuple[Flaky, str]) -> None:
    server, url = flaky
    server.script = [limited(300)]
    transport = Transport(url, retry=FAST)
    try:
        first = asyncio.create_task(transport.perform(SEND, "t"))
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        other = rooms.send_event("!other:s", "m.room.message", {"body": "y"}, "txn2")
        await transport.perform(other, "t")
        assert loop.time() - started >= 0.15  # waited for the first one's 429 to pass
        await first
    finally:
        await transport.close()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answer(body: object, code: int = 200) -> Callable[[web.Request], web.Response]:
    return lambda request: web.json_response(body, status=code)


async def test_malformed_answers_raise_a_clear_error_from_every_layer(flaky: tuple[Flaky, str]) -> None:
    """A broken server gets a MalformedResponse naming the endpoint and the field, from the
    client's methods and from sync_forever, never an AttributeError from deep inside."""
    server, url = flaky
    client = Client(url, retry=FAST)
    try:
        server.script = [answer({"user_id": "@a:s", "device_id": "D"})]
        with pytest.raises(MalformedResponse, match="POST /_matrix/client/v3/login: missing field 'access_token'"):
            await client.login("a", "pw")
        server.script = [answer({"user_id": "@a:s", "device_id": "D", "access_token": "t"})]
        await client.login("a", "pw")
        cases = [
            (client.sync_once(), {"next_batch": "x", "rooms": {"join": {"!r:s": {"timeline": {"events": [
                {"type": "m.room.message", "sender": "@b:s", "event_id": "$e", "origin_server_ts": "yesterday",
                 "content": {}}]}}}}}, r"rooms\.join\.!r:s: timeline\[0\]: event field 'origin_server_ts' must be int"),
            (client.search_users("x"), {"results": [{"display_name": "no id"}]}, "missing field 'user_id'"),
            (client.send_text("!r:s", "hi"), {"event": "$1"}, "missing field 'event_id'"),
            (client.upload(b"x", "text/plain"), {"content_uri": "http://elsewhere/x"}, "not an mxc:// URI"),
            (client.joined_rooms(), {"joined_rooms": [1, 2]}, "joined_rooms must be a list of strings"),
            (client.create_room(), [], "expected a JSON object, got list"),
            (client.sync_forever(), {"next_batch": 7}, "field 'next_batch' must be str"),
        ]
        for call, body, message in cases:
            server.script = [answer(body)]
            with pytest.raises(MalformedResponse, match=message):
                await call
    finally:
        await client.close()
