"""Driving a homeserver over real HTTP: one line to start it, one line to make a user."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from homeserver.api.connections import Runner
from homeserver.app import build_app
from homeserver.config import Config
from homeserver.server import HomeServer
from homeserver.streams.waiters import Waiter

CLIENT = "/_matrix/client/v3"


@dataclass
class Response:
    status: int
    body: Any

    @property
    def errcode(self) -> str | None:
        return self.body.get("errcode") if isinstance(self.body, dict) else None


def _body(json: Any, kwargs: dict[str, Any]) -> Any:
    """An empty JSON object unless the caller sends raw ``data`` or a body of its own."""
    return None if "data" in kwargs else (json if json is not None else {})


@dataclass
class User:
    server: TestServer
    user_id: str
    access_token: str
    device_id: str
    password: str

    async def request(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Response:
        return await self.server.request(method, path, json, token=self.access_token, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Response:
        return await self.request("POST", path, _body(json, kwargs), **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> Response:
        return await self.request("PUT", path, _body(json, kwargs), **kwargs)

    async def delete(self, path: str, json: Any = None, **kwargs: Any) -> Response:
        return await self.request("DELETE", path, json, **kwargs)


@dataclass
class TestServer:
    __test__ = False  # not a pytest test class

    hs: HomeServer
    runner: web.AppRunner
    url: str
    session: aiohttp.ClientSession
    _names: itertools.count = field(default_factory=itertools.count)

    @property
    def server_name(self) -> str:
        return self.hs.server_name

    async def request(
        self, method: str, path: str, json: Any = None, *, token: str | None = None,
        data: bytes | None = None, headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
    ) -> Response:
        if not path.startswith("/"):
            path = f"{CLIENT}/{path}"
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, self.url + path, json=json, data=data, headers=headers, params=params
        ) as resp:
            body = await resp.json(content_type=None) if resp.content_length != 0 else None
            return Response(resp.status, body)

    async def register(self, localpart: str | None = None, password: str = "correct horse battery", **extra: Any) -> User:
        """Register through the real endpoint (UIA with m.login.dummy) and return the logged-in user."""
        localpart = localpart or f"user{next(self._names)}"
        body = {"username": localpart, "password": password, "auth": {"type": "m.login.dummy"}, **extra}
        resp = await self.request("POST", "register", body)
        assert resp.status == 200, resp
        b = resp.body
        return User(self, b["user_id"], b["access_token"], b["device_id"], password)

    async def login(self, localpart: str, password: str, **extra: Any) -> Response:
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
                "password": password, **extra}
        return await self.request("POST", "login", body)

    async def close(self) -> None:
        await self.session.close()
        await self.runner.cleanup()
        await self.hs.close()


async def start_test_server(config: Config) -> TestServer:
    hs = await HomeServer.start(config)
    runner = Runner(build_app(hs), config.server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return TestServer(hs, runner, f"http://127.0.0.1:{port}", aiohttp.ClientSession())


@contextlib.contextmanager
def parked(hs: HomeServer, user_id: str, rooms: Iterable[str] = ()) -> Iterator[Waiter]:
    """A /sync's place on the change feed, parked at the current positions."""
    upto, seq = hs.feed.current()
    with hs.feed.waiter(user_id, rooms, upto, seq) as waiter:
        yield waiter
