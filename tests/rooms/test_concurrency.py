"""Many people sending into one room at once: the graph stays linear, every event is
stored once, and history reads back every event in order."""

from __future__ import annotations

import asyncio

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
