"""Concurrent senders and concurrently syncing readers: every reader sees every event
exactly once, in stream order, even though writers commit out of order."""

from __future__ import annotations

import asyncio
import json

from tests.helpers import TestServer
from tests.rooms.test_rooms import create_room
from tests.sync.test_sync import sync

SENDERS = 6
PER_SENDER = 15
READERS = 3


async def test_every_reader_sees_every_event_once_in_order(server: TestServer) -> None:
    owner = await server.register("owner")
    rooms = [await create_room(owner, preset="public_chat") for _ in range(3)]
    senders = [await server.register(f"s{i}") for i in range(SENDERS)]
    readers = [await server.register(f"r{i}") for i in range(READERS)]
    for user in senders + readers:
        for room_id in rooms:
            assert (await user.post(f"join/{room_id}")).status == 200
    no_limit = json.dumps({"room": {"timeline": {"limit": 100}}})
    tokens = [(await sync(r, filter=no_limit))["next_batch"] for r in readers]
    done = asyncio.Event()
    seen: list[list[tuple[str, str]]] = [[] for _ in readers]

    async def read(index: int) -> None:
        token = tokens[index]
        while True:
            finished = done.is_set()
            resp = await sync(readers[index], token, timeout=200, filter=no_limit)
            for room_id, room in resp["rooms"]["join"].items():
                assert not room["timeline"]["limited"]
                seen[index] += [(room_id, e["event_id"]) for e in room["timeline"]["events"]
                                if e["type"] == "m.room.message"]
            token = resp["next_batch"]
            if finished:
                return

    async def send(index: int) -> list[str]:
        ids = []
        for n in range(PER_SENDER):
            room_id = rooms[(index + n) % len(rooms)]
            resp = await senders[index].put(f"rooms/{room_id}/send/m.room.message/{n}",
                                            {"msgtype": "m.text", "body": f"{index}/{n}"})
            ids.append(resp.body["event_id"])
        return ids

    reading = [asyncio.create_task(read(i)) for i in range(READERS)]
    sent = {eid for ids in await asyncio.gather(*(send(i) for i in range(SENDERS))) for eid in ids}
    done.set()
    await asyncio.gather(*reading)

    order = {r["event_id"]: r["stream_ordering"] for r in await server.hs.db.pool.fetch(
        "SELECT event_id, stream_ordering FROM events WHERE event_id = ANY($1::text[])", list(sent))}
    for events in seen:
        ids = [eid for _, eid in events]
        assert len(ids) == len(set(ids)), "no event twice"
        assert set(ids) == sent, "no event missed"
        for room_id in rooms:
            positions = [order[eid] for rid, eid in events if rid == room_id]
            assert positions == sorted(positions), "each room's events in stream order"
