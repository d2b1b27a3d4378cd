"""Pushers over real HTTP: a push gateway on loopback receives the notifications
(spec: push-gateway-api.md, client-server-api "Push Notifications")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.helpers import TestServer
from tests.push.helpers import dm, receipt, say


class Gateway:
    """A push gateway on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.fail_next = 0
        self.reject: list[str] = []
        self.url = ""

    async def notify(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=502)
        await self.received.put(body["notification"])
        return web.json_response({"rejected": self.reject})

    async def next(self, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/_matrix/push/v1/notify", gw.notify)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gw.url = f"http://127.0.0.1:{port}/_matrix/push/v1/notify"
    yield gw
    await runner.cleanup()


def pusher_body(url: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "http", "app_id": "org.example.app", "pushkey": "key-1", "app_display_name": "Example",
            "device_display_name": "Bob's phone", "lang": "en", "data": {"url": url, "custom": 1}, **extra}


async def test_pusher_receives_notifications_with_counts(server: TestServer, gateway: Gateway) -> None:
    alice, bob, room_id = await dm(server)
    resp = await bob.post("pushers/set", pusher_body(gateway.url))
    assert resp.status == 200, resp
    listed = (await bob.get("pushers")).body["pushers"]
    assert listed == [{"pushkey": "key-1", "kind": "http", "app_id": "org.example.app", "app_display_name": "Example",
                       "device_display_name": "Bob's phone", "lang": "en",
                       "data": {"url": gateway.url, "custom": 1}}]
    resp = await alice.put(f"rooms/{room_id}/state/m.room.name", {"name": "Tea party"})
    assert resp.status == 200

    first = await say(alice, room_id, "hello there")
    note = await gateway.next()
    assert note["event_id"] == first and note["room_id"] == room_id
    assert note["type"] == "m.room.message" and note["sender"] == alice.user_id
    assert note["content"]["body"] == "hello there" and note["room_name"] == "Tea party"
    assert note["counts"] == {"unread": 1} and note["prio"] == "high"
    [device] = note["devices"]
    assert device["app_id"] == "org.example.app" and device["pushkey"] == "key-1"
    assert device["data"] == {"custom": 1}, "the url is not forwarded"
    assert device["tweaks"] == {"sound": "default"} and isinstance(device["pushkey_ts"], int)

    second = await say(alice, room_id, "again", **{"m.mentions": {"user_ids": [bob.user_id]}})
    note = await gateway.next()
    assert note["event_id"] == second and note["counts"] == {"unread": 2}
    assert note["devices"][0]["tweaks"] == {"sound": "default", "highlight": True}

    await say(bob, room_id, "my own message is not pushed to me")
    await say(alice, room_id, "m.notice", msgtype="m.notice")  # suppressed by default
    third = await say(alice, room_id, "third")
    note = await gateway.next()
    assert note["event_id"] == third and note["counts"] == {"unread": 1}, "bob's reply read the earlier ones"
    assert gateway.received.empty()


async def test_reading_sends_the_new_badge_count(server: TestServer, gateway: Gateway) -> None:
    alice, bob, room_id = await dm(server)
    assert (await bob.post("pushers/set", pusher_body(gateway.url))).status == 200
    await say(alice, room_id, "one")
    assert (await gateway.next())["counts"] == {"unread": 1}
    last = await say(alice, room_id, "two")
    assert (await gateway.next())["counts"] == {"unread": 2}
    await receipt(bob, room_id, last, "m.read.private")
    badge = await gateway.next()
    assert "event_id" not in badge and badge["counts"] == {}, "zero counts are omitted"
    assert badge["devices"][0]["pushkey"] == "key-1"


async def test_event_id_only_format_and_delete(server: TestServer, gateway: Gateway) -> None:
    alice, bob, room_id = await dm(server)
    body = pusher_body(gateway.url)
    body["data"]["format"] = "event_id_only"
    assert (await bob.post("pushers/set", body)).status == 200
    event_id = await say(alice, room_id, "secret")
    note = await gateway.next()
    assert set(note) == {"event_id", "room_id", "counts", "devices"} and note["event_id"] == event_id
    assert note["devices"][0]["data"] == {"custom": 1, "format": "event_id_only"}

    resp = await bob.post("pushers/set", {"kind": None, "app_id": "org.example.app", "pushkey": "key-1"})
    assert resp.status == 200
    assert (await bob.get("pushers")).body == {"pushers": []}
    await say(alice, room_id, "not pushed")
    with pytest.raises(asyncio.TimeoutError):
        await gateway.next(timeout=0.5)


async def test_pusher_retries_with_backoff_and_never_blocks_sends(server: TestServer, gateway: Gateway) -> None:
    server.hs.pushers.initial_backoff_s = 0.05
    alice, bob, room_id = await dm(server)
    assert (await bob.post("pushers/set", pusher_body(gateway.url))).status == 200
    gateway.fail_next = 2
    first = await say(alice, room_id, "one")
    second = await say(alice, room_id, "two")
    assert (await gateway.next())["event_id"] == first
    assert (await gateway.next())["event_id"] == second, "in order, after the retries"


async def test_pusher_survives_an_unreachable_gateway(server: TestServer) -> None:
    server.hs.pushers.initial_backoff_s = 0.01
    server.hs.pushers.give_up_after_s = 0.05
    alice, bob, room_id = await dm(server)
    body = pusher_body("http://127.0.0.1:9/_matrix/push/v1/notify")
    assert (await bob.post("pushers/set", body)).status == 200
    started = asyncio.get_running_loop().time()
    await say(alice, room_id, "into the void")
    assert asyncio.get_running_loop().time() - started < 1, "a send never waits for a gateway"
    for _ in range(200):
        if not server.hs.pushers.busy:
            break
        await asyncio.sleep(0.01)
    assert not server.hs.pushers.busy, "it gave up on the notification"


async def test_rejected_pushkey_removes_the_pusher(server: TestServer, gateway: Gateway) -> None:
    alice, bob, room_id = await dm(server)
    assert (await bob.post("pushers/set", pusher_body(gateway.url))).status == 200
    gateway.reject = ["key-1"]
    await say(alice, room_id, "hello")
    await gateway.next()
    for _ in range(100):
        if not (await bob.get("pushers")).body["pushers"]:
            break
        await asyncio.sleep(0.02)
    assert (await bob.get("pushers")).body == {"pushers": []}


async def test_pushers_append_and_replace_across_users(server: TestServer, gateway: Gateway) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    assert (await alice.post("pushers/set", pusher_body(gateway.url))).status == 200
    assert (await bob.post("pushers/set", pusher_body(gateway.url, append=True))).status == 200
    assert len((await alice.get("pushers")).body["pushers"]) == 1
    assert (await bob.post("pushers/set", pusher_body(gateway.url, device_display_name="new"))).status == 200
    assert (await alice.get("pushers")).body["pushers"] == [], "without append, the pushkey moves to bob"
    [pusher] = (await bob.get("pushers")).body["pushers"]
    assert pusher["device_display_name"] == "new"


@pytest.mark.parametrize(("body", "errcode"), [
    ({}, "M_MISSING_PARAM"),
    ({"kind": "http", "app_id": "a", "pushkey": "k"}, "M_MISSING_PARAM"),
    ({"kind": 5, "app_id": "a", "pushkey": "k"}, "M_BAD_JSON"),
    ({"kind": None, "pushkey": "k"}, "M_MISSING_PARAM"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"), "app_id": "x" * 65}, "M_BAD_JSON"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"), "pushkey": "k" * 513}, "M_BAD_JSON"),
    (pusher_body("https://push.example.org/other/path"), "M_INVALID_PARAM"),
    (pusher_body("http://push.example.org/_matrix/push/v1/notify"), "M_INVALID_PARAM"),
    (pusher_body("not a url"), "M_INVALID_PARAM"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"), "kind": "email"}, "M_INVALID_PARAM"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"), "append": "yes"}, "M_BAD_JSON"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"), "data": {"format": "full"}},
     "M_MISSING_PARAM"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"),
      "data": {"url": "https://push.example.org/_matrix/push/v1/notify", "format": "full"}}, "M_INVALID_PARAM"),
    ({**pusher_body("https://push.example.org/_matrix/push/v1/notify"), "lang": 3}, "M_BAD_JSON"),
])
async def test_pushers_set_bad_input(server: TestServer, body: dict[str, Any], errcode: str) -> None:
    bob = await server.register("bob")
    resp = await bob.post("pushers/set", body)
    assert (resp.status, resp.errcode) == (400, errcode), resp
    assert (await bob.get("pushers")).body == {"pushers": []}


async def test_push_rules_and_pushers_need_a_token(server: TestServer) -> None:
    for method, path in (("GET", "pushrules/"), ("GET", "pushers"), ("POST", "pushers/set"), ("GET", "notifications")):
        resp = await server.request(method, path, {} if method == "POST" else None)
        assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")


