"""Presence over real HTTP, its timeouts on a moved clock, and the functions /sync calls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeserver.config import ConfigError, parse_config
from homeserver.storage import presence as presence_store
from homeserver.streams import Stream
from tests.conftest import StartServer
from tests.helpers import parked, TestServer, User
from tests.rooms.test_rooms import create_room

MINUTE = 60_000
TIMEOUTS = {"presence": {"idle_after_ms": 5 * MINUTE, "offline_after_ms": 10 * MINUTE}}


async def _status(viewer: User, user: User) -> dict[str, Any]:
    resp = await viewer.get(f"presence/{user.user_id}/status")
    assert resp.status == 200, resp
    return resp.body


async def _put(user: User, **body: Any) -> None:
    resp = await user.put(f"presence/{user.user_id}/status", body)
    assert resp.status == 200 and resp.body == {}, resp


async def _since(server: TestServer, user: User, since: int) -> list[dict[str, Any]]:
    async with server.hs.db.pool.acquire() as conn:
        return await server.hs.presence.events_since(conn, user.user_id, since, server.hs.feed.readable(Stream.PRESENCE))


async def _room_mates(server: TestServer) -> tuple[User, User, str]:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    assert (await bob.post(f"join/{room_id}")).status == 200
    return alice, bob, room_id


async def test_set_and_get_own_presence(server: TestServer) -> None:
    alice = await server.register("alice")
    assert await _status(alice, alice) == {"presence": "offline"}, "never seen: offline"

    await _put(alice, presence="online", status_msg="In a meeting")
    status = await _status(alice, alice)
    assert status["presence"] == "online" and status["status_msg"] == "In a meeting"
    assert status["currently_active"] is True and 0 <= status["last_active_ago"] < 5000

    server.hs.clock.advance(20_000)
    assert (await _status(alice, alice))["last_active_ago"] >= 20_000

    await _put(alice, presence="unavailable")
    status = await _status(alice, alice)
    assert status["presence"] == "unavailable" and "status_msg" not in status, "a PUT replaces the status"
    assert status["currently_active"] is False and status["last_active_ago"] < 5000, "setting it is activity"


async def test_only_room_mates_see_presence_and_only_the_owner_sets_it(server: TestServer) -> None:
    alice, bob, room_id = await _room_mates(server)
    carol = await server.register("carol")
    await _put(alice, presence="online", status_msg="hi")

    assert (await _status(bob, alice))["status_msg"] == "hi"
    resp = await carol.get(f"presence/{alice.user_id}/status")
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    assert "hi" not in str(resp.body)
    resp = await carol.get("presence/@ghost:test.local/status")
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), "no way to probe for users"
    resp = await bob.put(f"presence/{alice.user_id}/status", {"presence": "offline"})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    assert (await _status(alice, alice))["presence"] == "online"

    assert (await carol.post(f"join/{room_id}")).status == 200
    assert (await _status(carol, alice))["presence"] == "online"
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    assert (await bob.get(f"presence/{alice.user_id}/status")).status == 403, "not after leaving"


async def test_idle_then_offline_as_time_passes(start_server: StartServer) -> None:
    server = await start_server(TIMEOUTS)
    alice, bob, _ = await _room_mates(server)
    await _put(alice, presence="online")
    before = server.hs.feed.readable(Stream.PRESENCE)

    server.hs.clock.advance(5 * MINUTE + 1000)
    status = await _status(bob, alice)
    assert status["presence"] == "unavailable", "a read applies the idle timeout at once"
    assert status["currently_active"] is False and status["last_active_ago"] > 5 * MINUTE
    # bob went online too, by joining (sending counts as activity), so he idles with her
    assert alice.user_id in await server.hs.presence.sweep()
    assert await server.hs.presence.sweep() == [], "a sweep changes each user once"
    [event] = [e for e in await _since(server, bob, before) if e["sender"] == alice.user_id]
    assert event["sender"] == alice.user_id and event["content"]["presence"] == "unavailable"

    await server.hs.presence.seen(alice.user_id, "online")
    assert (await _status(bob, alice))["presence"] == "online", "activity brings them back"

    server.hs.clock.advance(10 * MINUTE + 1000)
    assert (await _status(bob, alice))["presence"] == "offline", "no /sync for offline_after_ms"
    mark = server.hs.feed.readable(Stream.PRESENCE)
    assert alice.user_id in await server.hs.presence.sweep()
    assert [e["content"]["presence"] for e in await _since(server, bob, mark)
            if e["sender"] == alice.user_id] == ["offline"]


async def test_regular_syncs_keep_a_user_online(start_server: StartServer) -> None:
    server = await start_server(TIMEOUTS)
    alice = await server.register("alice")
    for _ in range(12):  # an hour of /syncs with set_presence=unavailable, every 5 minutes
        await server.hs.presence.seen(alice.user_id, "unavailable")
        server.hs.clock.advance(5 * MINUTE)
        await server.hs.presence.sweep()
        assert (await _status(alice, alice))["presence"] == "unavailable"
    for _ in range(3):
        await server.hs.presence.seen(alice.user_id, "online")
        server.hs.clock.advance(4 * MINUTE)
        assert await server.hs.presence.sweep() == []
        assert (await _status(alice, alice))["presence"] == "online"


async def test_set_presence_from_sync(server: TestServer) -> None:
    alice, bob, _ = await _room_mates(server)
    assert (await _status(bob, alice))["presence"] == "online", "creating a room is activity"
    await _put(alice, presence="offline")
    await server.hs.presence.seen(alice.user_id, "offline")
    assert (await _status(bob, alice))["presence"] == "offline", "offline changes nothing"

    await server.hs.presence.seen(alice.user_id, "online")
    assert (await _status(bob, alice))["presence"] == "online"
    await _put(alice, presence="online", status_msg="coffee")
    await server.hs.presence.seen(alice.user_id, "unavailable")
    status = await _status(bob, alice)
    assert status["presence"] == "unavailable" and status["status_msg"] == "coffee", "a sync keeps the status"
    await server.hs.presence.seen(alice.user_id, "offline")
    assert (await _status(bob, alice))["presence"] == "unavailable"


async def test_presence_since_serves_room_mates_changes_in_range(server: TestServer) -> None:
    alice, bob, _ = await _room_mates(server)
    carol = await server.register("carol")
    await alice.put(f"profile/{alice.user_id}/displayname", {"displayname": "Alice"})
    await _put(alice, presence="online", status_msg="first")
    await _put(carol, presence="online", status_msg="stranger")
    await _put(bob, presence="unavailable")

    initial = {e["sender"]: e for e in await _since(server, bob, 0)}
    assert set(initial) == {alice.user_id, bob.user_id}, "room mates and oneself, never strangers"
    event = initial[alice.user_id]
    assert event["type"] == "m.presence"
    assert event["content"]["presence"] == "online" and event["content"]["status_msg"] == "first"
    assert event["content"]["displayname"] == "Alice" and event["content"]["currently_active"] is True
    assert event["content"]["last_active_ago"] >= 0

    mark = server.hs.feed.readable(Stream.PRESENCE)
    assert await _since(server, bob, mark) == []
    await _put(alice, presence="online", status_msg="second")
    await _put(carol, presence="offline")
    upto = server.hs.feed.readable(Stream.PRESENCE)
    changed = await _since(server, bob, mark)
    assert [(e["sender"], e["content"]["status_msg"]) for e in changed] == [(alice.user_id, "second")]
    await _put(alice, presence="online", status_msg="third")
    async with server.hs.db.pool.acquire() as conn:
        # Presence keeps each user's latest state: a change past ``upto`` is served from there.
        assert await server.hs.presence.events_since(conn, bob.user_id, mark, upto) == []
        now = await server.hs.presence.events_of(conn, [alice.user_id, carol.user_id])
    assert [e["content"]["status_msg"] for e in await _since(server, bob, upto)] == ["third"]
    assert [e["content"].get("status_msg") for e in now] == ["third", None]
    server.hs.clock.advance(7000)
    [later] = await _since(server, bob, upto)
    assert later["content"]["last_active_ago"] >= 7000, "relative to now, not to the change"


async def test_presence_since_is_one_query(server: TestServer) -> None:
    alice, bob, _ = await _room_mates(server)
    await _put(alice, presence="online")

    class Counting:
        def __init__(self, conn: Any) -> None:
            self.conn, self.queries = conn, 0

        def __getattr__(self, name: str) -> Any:
            method = getattr(self.conn, name)

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.queries += 1
                return method(*args, **kwargs)
            return counted

    async with server.hs.db.pool.acquire() as conn:
        for since in (0, 1):
            counting = Counting(conn)
            assert await server.hs.presence.events_since(counting, bob.user_id, since, server.hs.feed.readable(Stream.PRESENCE))
            assert counting.queries == 1
        async with conn.transaction():  # the plan on a big table, which a test cannot afford to build
            await conn.execute("SET LOCAL enable_seqscan = off")
            rows = await conn.fetch("EXPLAIN " + presence_store._INCREMENTAL, bob.user_id, 5, 10)
        plan = "\n".join(r[0] for r in rows)
        assert "presence_stream" in plan and "Seq Scan" not in plan, plan


async def test_a_change_wakes_room_mates_syncs(server: TestServer) -> None:
    alice, bob, room_id = await _room_mates(server)
    carol = await server.register("carol")
    hs = server.hs
    with parked(hs, bob.user_id, [room_id]) as bobs, parked(hs, carol.user_id) as carols, \
            parked(hs, alice.user_id, [room_id]) as alices:
        await _put(alice, presence="unavailable")
        assert bobs.woken.is_set() and alices.woken.is_set()
        assert not carols.woken.is_set()
    await _put(alice, presence="online")
    with parked(hs, bob.user_id, [room_id]) as bobs:
        await server.hs.presence.seen(alice.user_id, "online")
        assert not bobs.woken.is_set(), "staying online is no change"
        server.hs.clock.advance(server.hs.config.presence.idle_after_ms + 1)
        await server.hs.presence.sweep()
        assert bobs.woken.is_set(), "going idle is"


async def test_the_background_sweep_persists_timeouts(start_server: StartServer) -> None:
    server = await start_server({"presence": {"idle_after_ms": 1000, "offline_after_ms": MINUTE}})
    alice, bob, _ = await _room_mates(server)
    await _put(alice, presence="online")
    mark = server.hs.feed.readable(Stream.PRESENCE)
    assert server.hs.leases.held("presence-timeouts"), "the one process runs the sweep"

    async def alices() -> list[str]:
        return [e["content"]["presence"] for e in await _since(server, bob, mark) if e["sender"] == alice.user_id]

    server.hs.clock.advance(2000)
    for _ in range(40):
        if await alices():
            break
        await asyncio.sleep(0.1)
    assert await alices() == ["unavailable"]


async def test_disabled_presence_reads_offline_and_stores_nothing(start_server: StartServer) -> None:
    server = await start_server({"presence": {"enabled": False}})
    alice, bob, _ = await _room_mates(server)
    carol = await server.register("carol")
    await _put(alice, presence="online", status_msg="here")
    await server.hs.presence.seen(alice.user_id, "online")
    assert await _status(bob, alice) == {"presence": "offline"}
    assert await _status(alice, alice) == {"presence": "offline"}
    assert (await carol.get(f"presence/{alice.user_id}/status")).status == 403
    assert await _since(server, bob, 0) == []
    assert await server.hs.db.pool.fetchval("SELECT count(*) FROM presence") == 0
    assert not server.hs.leases.held("presence-timeouts"), "no sweep when disabled"
    resp = await alice.put(f"presence/{alice.user_id}/status", {"presence": "away"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON"), "input is still checked"


async def test_bad_requests_get_precise_errors(server: TestServer) -> None:
    alice = await server.register("alice")
    path = f"presence/{alice.user_id}/status"
    for body, errcode in [
        ({}, "M_MISSING_PARAM"),
        ({"presence": "away"}, "M_BAD_JSON"),
        ({"presence": 1}, "M_BAD_JSON"),
        ({"presence": "online", "status_msg": 5}, "M_BAD_JSON"),
        ({"presence": "online", "status_msg": "x" * 1025}, "M_BAD_JSON"),
    ]:
        resp = await alice.put(path, body)
        assert (resp.status, resp.errcode) == (400, errcode), body
    resp = await alice.put(path, data=b"{nope", headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (400, "M_NOT_JSON")
    for bad in ("alice", "@alice", "%40alice"):
        assert (await alice.get(f"presence/{bad}/status")).errcode == "M_INVALID_PARAM", bad
        assert (await alice.put(f"presence/{bad}/status", {"presence": "online"})).errcode == "M_INVALID_PARAM"
    resp = await server.request("GET", path)
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    assert await _status(alice, alice) == {"presence": "offline"}, "nothing was written"


@pytest.mark.parametrize("raw, message", [
    ({"presence": {"idle_after_ms": 5}}, "presence.idle_after_ms"),
    ({"presence": {"offline_after_ms": -1}}, "presence.offline_after_ms"),
    ({"presence": {"enabled": "no"}}, "presence.enabled"),
    ({"presence": {"idle": 1}}, "presence.idle: unknown key"),
])
def test_bad_presence_config_is_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
