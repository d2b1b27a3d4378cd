"""Many people sending into one room at once: the graph stays linear, every event is
stored once, and history reads back every event in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeserver.rooms.send import Draft, Txn, send_event
from homeserver.storage import events as event_store
from tests.helpers import TestServer
from tests.rooms.test_rooms import create_room

SENDERS = 8
PER_SENDER = 12


async def test_concurrent_senders_keep_the_graph_linear(server: TestServer) -> None:
    owner = await server.register("owner")
    users = [await server.register(f"sender{i}") for i in range(SENDERS)]
    room_id = await create_room(owner, preset="public_chat")
    for user in users:
        assert (await user.post(f"join/{room_id}")).status == 200

    async def send_all(index: int) -> list[str]:
        ids = []
        for n in range(PER_SENDER):
            resp = await users[index].put(f"rooms/{room_id}/send/m.room.message/c{n}",
                                          {"msgtype": "m.text", "body": f"{index}:{n}"})
            assert resp.status == 200, resp
            ids.append(resp.body["event_id"])
        return ids

    sent = [eid for ids in await asyncio.gather(*(send_all(i) for i in range(SENDERS))) for eid in ids]
    assert len(set(sent)) == SENDERS * PER_SENDER

    pool = server.hs.db.pool
    rows = await pool.fetch(
        "SELECT event_id, json::jsonb -> 'prev_events' AS prev, depth FROM events WHERE room_id = $1"
        " ORDER BY stream_ordering", room_id)
    extremities = await pool.fetchval("SELECT count(*) FROM forward_extremities WHERE room_id = $1", room_id)
    assert extremities == 1
    for before, after in zip(rows, rows[1:]):
        assert after["prev"] == [before["event_id"]], "each event follows exactly the one before it"
        assert after["depth"] == before["depth"] + 1

    # Every message reads back once, in the order it was stored, and each sender's in send order.
    chunk, token = [], None
    while True:
        params = {"dir": "f", "limit": "25", **({"from": token} if token else {})}
        page = await owner.get(f"rooms/{room_id}/messages", params=params)
        chunk += page.body["chunk"]
        token = page.body.get("end")
        if token is None:
            break
    bodies = [e["content"]["body"] for e in chunk if e["type"] == "m.room.message"]
    assert sorted(bodies) == sorted(f"{i}:{n}" for i in range(SENDERS) for n in range(PER_SENDER))
    for i in range(SENDERS):
        mine = [b for b in bodies if b.startswith(f"{i}:")]
        assert mine == [f"{i}:{n}" for n in range(PER_SENDER)]


async def test_two_server_processes_on_one_database_never_fork_a_room(start_server) -> None:  # type: ignore[no-untyped-def]
    first, second = await start_server(), await start_server()
    alice = await first.register("alice")
    room_id = await create_room(alice, preset="public_chat")
    bob_login = await second.register("bob")
    assert (await bob_login.post(f"join/{room_id}")).status == 200

    async def burst(user, tag: str) -> None:  # type: ignore[no-untyped-def]
        for n in range(15):
            resp = await user.put(f"rooms/{room_id}/send/m.room.message/{tag}{n}", {"msgtype": "m.text", "body": tag})
            assert resp.status == 200, resp

    await asyncio.gather(burst(alice, "a"), burst(bob_login, "b"))
    pool = first.hs.db.pool
    assert await pool.fetchval("SELECT count(*) FROM forward_extremities WHERE room_id = $1", room_id) == 1
    rows = await pool.fetch("SELECT event_id, json::jsonb -> 'prev_events' AS prev FROM events"
                            " WHERE room_id = $1 ORDER BY depth", room_id)
    for before, after in zip(rows, rows[1:]):
        assert after["prev"] == [before["event_id"]]
    assert await pool.fetchval("SELECT count(*) FROM events WHERE room_id = $1 AND type = 'm.room.message'",
                               room_id) == 30


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the group commit's statements (storage.events.insert_messages calls)."""
    sizes: list[int] = []
    insert_messages = event_store.insert_messages

    async def counting(conn: Any, messages: Any, now_ms: int) -> dict[str, int]:
        sizes.append(len(messages))
        return await insert_messages(conn, messages, now_ms)

    monkeypatch.setattr(event_store, "insert_messages", counting)
    return sizes


async def test_a_batch_with_a_retried_transaction(server: TestServer, statements: list[int]) -> None:
    """Messages of many rooms sent in the same instant share one statement
    (rooms/group_commit.py). A client retrying a transaction it already completed, in
    the same batch, gets its first event back and stores nothing; the others are stored."""
    hs = server.hs
    users = [await server.register(f"many{i}") for i in range(6)]
    rooms = [await create_room(user) for user in users]
    first = {}
    for user, room_id in zip(users, rooms):  # also caches each room's head
        resp = await user.put(f"rooms/{room_id}/send/m.room.message/t0", {"msgtype": "m.text", "body": "first"})
        first[room_id] = resp.body["event_id"]
    sent = await asyncio.gather(*(
        send_event(hs, room_id, user.user_id, Draft("m.room.message", {"msgtype": "m.text", "body": "again"}),
                   Txn(user.device_id, "send/m.room.message", "t0" if index == 0 else "t1"))
        for index, (user, room_id) in enumerate(zip(users, rooms))
    ))
    # One statement for the batch, which failed on the retried transaction; then one per message.
    assert statements[len(users):] == [len(users)] + [1] * len(users)  # after the warm-up sends
    assert sent[0].event_id == first[rooms[0]]
    for index, room_id in enumerate(rooms):
        count = await hs.db.pool.fetchval(
            "SELECT count(*) FROM events WHERE room_id = $1 AND type = 'm.room.message'", room_id)
        assert count == (1 if index == 0 else 2)
        assert sent[index].event_id != first[room_id] or index == 0


async def test_messages_of_many_rooms_at_once_share_statements(server: TestServer, statements: list[int]) -> None:
    hs = server.hs
    users = [await server.register(f"batch{i}") for i in range(8)]
    rooms = [await create_room(user) for user in users]
    for user, room_id in zip(users, rooms):
        await user.put(f"rooms/{room_id}/send/m.room.message/w", {"msgtype": "m.text", "body": "warm"})
    sent = await asyncio.gather(*(
        send_event(hs, room_id, user.user_id, Draft("m.room.message", {"msgtype": "m.text", "body": "hi"}),
                   Txn(user.device_id, "send/m.room.message", "b"))
        for user, room_id in zip(users, rooms)
    ))
    assert statements[len(users):] == [len(users)]  # after the warm-up sends
    orderings = [s.stream_ordering for s in sent]
    assert len(set(orderings)) == len(users)
    for s in sent:
        event = await event_store.get_event(hs.db.pool, s.event_id)
        assert event is not None and event.stream_ordering == s.stream_ordering
