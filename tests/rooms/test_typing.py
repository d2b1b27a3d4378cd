"""Typing notifications over real HTTP, their expiry, and the functions /sync calls."""

from __future__ import annotations

import asyncio

from homeserver.streams import Stream
from tests.helpers import TestServer, User, parked
from tests.rooms.test_rooms import create_room


async def _typing(user: User, room_id: str, typing: bool, timeout: int | None = None) -> None:
    body: dict[str, object] = {"typing": typing}
    if timeout is not None:
        body["timeout"] = timeout
    resp = await user.put(f"rooms/{room_id}/typing/{user.user_id}", body)
    assert resp.status == 200 and resp.body == {}, resp


async def _room_mates(server: TestServer) -> tuple[User, User, str]:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    assert (await bob.post(f"join/{room_id}")).status == 200
    return alice, bob, room_id


async def _typers(server: TestServer, rooms: list[str], since: int) -> dict[str, list[str]]:
    async with server.hs.db.pool.acquire() as conn:
        return await server.hs.typing.typers(conn, rooms, since, server.hs.feed.readable(Stream.TYPING))


def _position(server: TestServer) -> int:
    return server.hs.feed.readable(Stream.TYPING)


async def test_typing_starts_and_stops(server: TestServer) -> None:
    alice, bob, room_id = await _room_mates(server)
    other_room = await create_room(bob)
    start = _position(server)
    assert await _typers(server, [room_id, other_room], 0) == {}

    await _typing(alice, room_id, True, 10_000)
    first = _position(server)
    assert first > start
    assert await _typers(server, [room_id, other_room], start) == {room_id: [alice.user_id]}
    assert await _typers(server, [room_id, other_room], 0) == {room_id: [alice.user_id]}
    assert await _typers(server, [other_room], start) == {}, "only the rooms asked about"

    await _typing(alice, room_id, True, 10_000)
    assert _position(server) == first, "still typing is no change"
    assert await _typers(server, [room_id], first) == {}

    await _typing(bob, room_id, True)
    assert await _typers(server, [room_id], first) == {room_id: [alice.user_id, bob.user_id]}
    await _typing(alice, room_id, False)
    await _typing(bob, room_id, False)
    assert await _typers(server, [room_id], first) == {room_id: []}, "an empty list: everyone stopped"
    assert await _typers(server, [room_id], 0) == {}
    await _typing(bob, room_id, False)
    assert await _typers(server, [room_id], _position(server)) == {}


async def test_typing_runs_out_on_the_clock_and_is_capped(server: TestServer) -> None:
    alice, bob, room_id = await _room_mates(server)
    await _typing(alice, room_id, True, 5_000)
    await _typing(bob, room_id, True, 600_000)
    mark = _position(server)

    server.hs.clock.advance(5_001)
    assert await _typers(server, [room_id], 0) == {room_id: [bob.user_id]}, "an expired notice never shows"
    await server.hs.typing.expire()  # unless the expiry job, on the same clock, did it first
    assert await _typers(server, [room_id], mark) == {room_id: [bob.user_id]}, "its end is a change"
    server.hs.clock.advance(25_000)
    assert await _typers(server, [room_id], 0) == {}, "a timeout is capped at 30 seconds"


async def test_the_expiry_job_wakes_syncs_when_typing_runs_out(server: TestServer) -> None:
    alice, bob, room_id = await _room_mates(server)
    assert server.hs.leases.held("typing-expiry")
    with parked(server.hs, bob.user_id, [room_id]) as waiter:
        await _typing(alice, room_id, True, 200)
        assert waiter.woken.is_set(), "starting to type wakes the room"
    mark = _position(server)
    with parked(server.hs, bob.user_id, [room_id]) as waiter:
        await asyncio.wait_for(waiter.woken.wait(), timeout=5)
    assert await _typers(server, [room_id], mark) == {room_id: []}


async def test_only_members_type_and_only_for_themselves(server: TestServer) -> None:
    alice, bob, room_id = await _room_mates(server)
    eve = await server.register("eve")
    for user, path in [
        (eve, f"rooms/{room_id}/typing/{eve.user_id}"),
        (bob, f"rooms/{room_id}/typing/{alice.user_id}"),
        (alice, f"rooms/!unknown:test.local/typing/{alice.user_id}"),
    ]:
        resp = await user.put(path, {"typing": True, "timeout": 1000})
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), path
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    resp = await bob.put(f"rooms/{room_id}/typing/{bob.user_id}", {"typing": True})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    assert await _typers(server, [room_id], 0) == {}


async def test_bad_requests_get_precise_errors(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    path = f"rooms/{room_id}/typing/{alice.user_id}"
    for body, errcode in [
        ({}, "M_MISSING_PARAM"),
        ({"typing": "yes"}, "M_BAD_JSON"),
        ({"typing": True, "timeout": -1}, "M_BAD_JSON"),
        ({"typing": True, "timeout": "30000"}, "M_BAD_JSON"),
        ({"typing": True, "timeout": 1.5}, "M_BAD_JSON"),
    ]:
        resp = await alice.put(path, body)
        assert (resp.status, resp.errcode) == (400, errcode), body
    resp = await alice.put(path, data=b"nope", headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (400, "M_NOT_JSON")
    assert (await alice.put(f"rooms/nope/typing/{alice.user_id}", {"typing": True})).errcode == "M_INVALID_PARAM"
    assert (await alice.put(f"rooms/{room_id}/typing/alice", {"typing": True})).errcode == "M_INVALID_PARAM"
    resp = await server.request("PUT", path, {"typing": True})
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    assert await _typers(server, [room_id], 0) == {}
