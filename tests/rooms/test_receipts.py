"""Receipts and read markers over real HTTP (spec: client-server-api "Receipts",
"Read and unread markers"). What /sync will serve is read through
``receipts_since``, the function /sync calls."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.rooms.receipts import receipts_since
from homeserver.streams import Stream
from tests.helpers import TestServer, User, parked
from tests.push.helpers import counts, create_room, dm, join, receipt, say, say_in_thread


async def ephemeral(user: User, room_id: str, since: int = 0) -> dict[str, Any]:
    """The m.receipt content /sync would give the user for the room."""
    hs = user.server.hs
    result = await receipts_since(hs.db.pool, user.user_id, [room_id], since, hs.feed.readable(Stream.RECEIPTS))
    return result.get(room_id, {})


async def test_read_receipts_are_shared_and_private_ones_are_not(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    first = await say(alice, room_id, "one")
    second = await say(alice, room_id, "two")
    await receipt(bob, room_id, first)
    await receipt(bob, room_id, second, "m.read.private")

    seen_by_alice = await ephemeral(alice, room_id)
    assert set(seen_by_alice) == {first}
    assert set(seen_by_alice[first]) == {"m.read"}
    assert isinstance(seen_by_alice[first]["m.read"][bob.user_id]["ts"], int)
    assert "thread_id" not in seen_by_alice[first]["m.read"][bob.user_id]

    seen_by_bob = await ephemeral(bob, room_id)
    assert set(seen_by_bob) == {first, second}
    assert bob.user_id in seen_by_bob[second]["m.read.private"]


async def test_receipts_since_gives_deltas(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    first = await say(alice, room_id, "one")
    await receipt(bob, room_id, first)
    position = server.hs.feed.readable(Stream.RECEIPTS)
    assert await ephemeral(alice, room_id, since=position) == {}
    second = await say(alice, room_id, "two")
    await receipt(bob, room_id, second)
    assert set(await ephemeral(alice, room_id, since=position)) == {second}
    assert set(await ephemeral(alice, room_id)) == {second}, "only the latest receipt of each user"


async def test_receipts_only_move_forward(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    first = await say(alice, room_id, "one")
    second = await say(alice, room_id, "two")
    await receipt(bob, room_id, second)
    position = server.hs.feed.readable(Stream.RECEIPTS)
    await receipt(bob, room_id, first)
    assert await ephemeral(alice, room_id, since=position) == {}
    assert set(await ephemeral(alice, room_id)) == {second}


async def test_threaded_receipts_keep_their_thread(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    root = await say(alice, room_id, "root")
    reply = await say_in_thread(alice, room_id, root, "reply")
    await receipt(bob, room_id, reply, thread_id=root)
    await receipt(bob, room_id, root, thread_id="main")
    await receipt(bob, room_id, root)
    content = await ephemeral(alice, room_id)
    assert content[reply]["m.read"][bob.user_id]["thread_id"] == root
    # Two receipts of bob's are at the root (main and unthreaded): the EDU names the event
    # once per user, so one of them wins there; both stay stored.
    assert content[root]["m.read"][bob.user_id].get("thread_id") in ("main", None)
    stored = await server.hs.db.pool.fetch(
        "SELECT thread_id FROM receipts WHERE room_id = $1 AND user_id = $2", room_id, bob.user_id)
    assert {r["thread_id"] for r in stored} == {root, "main", ""}, "unthreaded, main and thread receipts apart"


async def test_read_markers_set_fully_read_and_receipts(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    first = await say(alice, room_id, "one")
    second = await say(alice, room_id, "two")
    resp = await bob.post(f"rooms/{room_id}/read_markers",
                          {"m.fully_read": first, "m.read": first, "m.read.private": second})
    assert resp.status == 200, resp
    marker = await bob.get(f"user/{bob.user_id}/rooms/{room_id}/account_data/m.fully_read")
    assert marker.body == {"event_id": first}
    assert await counts(bob, room_id) == (0, 0)
    assert set(await ephemeral(alice, room_id)) == {first}

    # The marker only moves forward.
    assert (await bob.post(f"rooms/{room_id}/read_markers", {"m.fully_read": second})).status == 200
    assert (await bob.post(f"rooms/{room_id}/read_markers", {"m.fully_read": first})).status == 200
    marker = await bob.get(f"user/{bob.user_id}/rooms/{room_id}/account_data/m.fully_read")
    assert marker.body == {"event_id": second}

    # The receipt endpoint takes m.fully_read too; clients cannot set it directly.
    third = await say(alice, room_id, "three")
    assert (await bob.post(f"rooms/{room_id}/receipt/m.fully_read/{third}", {})).status == 200
    marker = await bob.get(f"user/{bob.user_id}/rooms/{room_id}/account_data/m.fully_read")
    assert marker.body == {"event_id": third}
    resp = await bob.put(f"user/{bob.user_id}/rooms/{room_id}/account_data/m.fully_read", {"event_id": first})
    assert resp.status == 405


async def test_receipt_without_a_body_is_unthreaded(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    event_id = await say(alice, room_id, "one")
    resp = await bob.request("POST", f"rooms/{room_id}/receipt/m.read/{event_id}")
    assert resp.status == 200, resp
    assert bob.user_id in (await ephemeral(alice, room_id))[event_id]["m.read"]


async def test_receipts_for_events_the_user_cannot_see(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, preset="public_chat", initial_state=[
        {"type": "m.room.history_visibility", "content": {"history_visibility": "joined"}}])
    before = await say(alice, room_id, "before bob joined")
    await join(bob, room_id)
    resp = await bob.post(f"rooms/{room_id}/receipt/m.read/{before}", {})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    assert await ephemeral(alice, room_id) == {}


@pytest.mark.parametrize(("path", "body", "status", "errcode"), [
    ("receipt/m.unknown/{event}", {}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/not-an-event", {}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/$unknown", {}, 404, "M_NOT_FOUND"),
    ("receipt/m.read/{other}", {}, 404, "M_NOT_FOUND"),
    ("receipt/m.read/{event}", {"thread_id": ""}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/{event}", {"thread_id": 5}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/{event}", {"thread_id": "elsewhere"}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/{event}", {"thread_id": "$someotherthread"}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/{reply}", {"thread_id": "main"}, 400, "M_INVALID_PARAM"),
    ("receipt/m.fully_read/{event}", {"thread_id": "main"}, 400, "M_INVALID_PARAM"),
    ("receipt/m.read/{event}", [1], 400, "M_BAD_JSON"),
    ("read_markers", {"m.fully_read": 5}, 400, "M_BAD_JSON"),
    ("read_markers", {"m.read": "{event}", "m.fully_read": "$unknown"}, 404, "M_NOT_FOUND"),
    ("read_markers", {"m.read": "{event}", "m.read.private": "junk"}, 400, "M_INVALID_PARAM"),
])
async def test_bad_receipts_write_nothing(
    server: TestServer, path: str, body: Any, status: int, errcode: str
) -> None:
    alice, bob, room_id = await dm(server)
    event_id = await say(alice, room_id, "hello")
    root = await say(alice, room_id, "root")
    reply = await say_in_thread(alice, room_id, root, "reply")
    other_room = await create_room(alice)
    other = await say(alice, other_room, "elsewhere")

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(event=event_id, other=other, reply=reply)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    resp = await bob.post(f"rooms/{room_id}/{fill(path)}", fill(body))
    assert (resp.status, resp.errcode) == (status, errcode), resp
    assert await ephemeral(bob, room_id) == {}, "nothing was written"
    marker = await bob.get(f"user/{bob.user_id}/rooms/{room_id}/account_data/m.fully_read")
    assert marker.status == 404


async def test_receipts_need_membership(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    eve = await server.register("eve")
    event_id = await say(alice, room_id, "hello")
    resp = await eve.post(f"rooms/{room_id}/receipt/m.read/{event_id}", {})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    resp = await eve.post("rooms/!nowhere:test.local/receipt/m.read/$x", {})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    resp = await eve.post("rooms/nowhere/read_markers", {})
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
    resp = await eve.post(f"rooms/{room_id}/read_markers", {"m.read": event_id})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")


async def test_receipts_wake_the_room(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    event_id = await say(alice, room_id, "hello")
    with parked(server.hs, alice.user_id, [room_id]) as waiter:
        await receipt(bob, room_id, event_id)
        assert waiter.woken.is_set()
