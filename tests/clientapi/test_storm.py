"""A 429 storm: nothing lost, nothing duplicated, everything eventually sent.

Uploads meet the server's own rate limit, set low. Our server does not rate-limit
message sends (Synapse does: ``rc_message``), so sends go through a real HTTP proxy in
front of the real server that answers 429 past a low rate, like Synapse would, and that
also forwards some sends and then cuts the answer off, so the client cannot know whether
they arrived: only the transaction ID, the same on every retry, keeps them single.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from clientapi import Client, MessageEvent, RetryPolicy

from bots.testing import MatrixTestServer, TestUser, free_port


SESSION = web.AppKey("session", aiohttp.ClientSession)


@dataclass
class RateLimitingProxy:
    """Forwards everything to ``upstream``; sends (``PUT .../send/...``) past ``per_second``
    (bucket of ``burst``) get 429 with ``retry_after_ms``, and every ``lose_every``-th
    send that is let through has its answer replaced by a cut connection."""

    upstream: str
    per_second: float
    burst: int
    lose_every: int
    tokens: float = 0.0
    last: float = field(default_factory=time.monotonic)
    passed: int = 0
    refused: int = 0
    lost: int = 0

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def _take(self) -> int | None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.per_second)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return int((1 - self.tokens) / self.per_second * 1000) + 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        is_send = request.method == "PUT" and "/send/" in request.path
        if is_send:
            wait_ms = self._take()
            if wait_ms is not None:
                self.refused += 1
                return web.json_response({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests",
                                          "retry_after_ms": wait_ms}, status=429)
        session = request.app[SESSION]
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with session.request(request.method, self.upstream + request.path_qs, data=await request.read(),
                                   headers=headers) as upstream:
            body = await upstream.read()
            if is_send:
                self.passed += 1
                if self.passed % self.lose_every == 0:
                    self.lost += 1
                    assert request.transport is not None
                    request.transport.close()  # the event was made; its answer never arrives
                    return web.Response()
            return web.Response(status=upstream.status, body=body,
                                content_type=upstream.content_type)


@pytest.fixture
async def proxy(matrix_server: MatrixTestServer) -> AsyncIterator[tuple[RateLimitingProxy, str]]:
    state = RateLimitingProxy(matrix_server.url, per_second=25.0, burst=5, lose_every=7)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_storm_of_sends_loses_nothing_and_doubles_nothing(
        matrix_server: MatrixTestServer, proxy: tuple[RateLimitingProxy, str]) -> None:
    limiter, proxy_url = proxy
    alice = await matrix_server.create_user("alice")
    bob = await matrix_server.create_user("bob")
    room_id = await alice.client.create_room(invite=[bob.user_id])
    await bob.client.join(room_id)
    assert alice.client.session is not None
    # Alice's program talks to the server through the limiter, with the SDK's retries
    # at their defaults but quicker backoff for a test.
    stormy = Client(proxy_url, session=alice.client.session,
                    retry=RetryPolicy(max_retries=6, backoff_base=0.05, backoff_max=1.0))
    try:
        bodies = [f"message {i}" for i in range(120)]
        event_ids = await asyncio.gather(*(stormy.send_text(room_id, body) for body in bodies))
    finally:
        await stormy.close()
    assert limiter.refused > 50 and limiter.lost >= 10, limiter  # a storm it was
    assert len(set(event_ids)) == len(bodies)
    history = [e async for e in bob.client.history(room_id) if isinstance(e, MessageEvent)]
    received = sorted(e.body for e in history)
    assert received == sorted(bodies)  # each exactly once
    assert {e.event_id for e in history} == set(event_ids)


@pytest.fixture
def matrix_server_config() -> dict[str, object]:
    return {"rate_limits": {"enabled": True, "media_upload": {"per_second": 10.0, "burst": 2},
                            "registration": {"per_second": 100.0, "burst": 100},
                            "login": {"per_second": 2.0, "burst": 2}}}


async def test_uploads_past_the_servers_own_rate_limit_all_arrive_once(matrix_server: MatrixTestServer) -> None:
    alice = await matrix_server.create_user("alice")
    files = [f"file number {i}".encode() for i in range(30)]
    uris = await asyncio.gather(*(alice.client.upload(data, "text/plain") for data in files))
    assert alice.client.transport.retries >= 20  # most of them met a 429 first
    assert len(set(uris)) == len(files)
    for uri, data in zip(uris, files):
        assert (await alice.client.download(uri)).data == data
    stored = await matrix_server.hs.db.fetchval("SELECT count(*) FROM media WHERE uploader = $1", alice.user_id)
    assert stored == len(files)


async def test_logins_past_the_rate_limit_wait_their_turn(matrix_server: MatrixTestServer) -> None:
    user: TestUser = await matrix_server.create_user("alice")
    started = time.monotonic()
    sessions = await asyncio.gather(*(matrix_server.login(user) for _ in range(6)))
    assert len({c.device_id for c in sessions}) == 6
    # A bucket of 2 refilling at 2 a second lets 6 logins through in no less than 2 s.
    assert time.monotonic() - started >= 1.5
