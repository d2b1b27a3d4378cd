"""Load shapes shared by the benchmarks: the mixed chat load of issue 10, and delivery.

Mixed load: pairs chatting in DMs — each side sends a message every ``interval``, and
on receiving one sends a read receipt and a read marker, and now and then account
data — while a few users keep creating rooms (each creation a transaction of several
state events). Every message's delivery time is the time from just before its send to
its partner's /sync returning it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench._server import Server

CLIENT = "/_matrix/client/v3"


@dataclass
class MixedResult:
    sent: int = 0
    delivered: dict[str, float] = field(default_factory=dict)  # body -> ms

    @property
    def missing(self) -> int:
        return self.sent - len(self.delivered)


async def _call(server: Server, method: str, path: str, body: Any, token: str) -> Any:
    return await server.call(method, CLIENT + path, body, token)


async def mixed_load(servers: list[Server], pairs: int, creators: int, seconds: float,
                     interval: float = 0.1) -> MixedResult:
    """Run the mixed load with users spread over ``servers`` (processes of one server)."""
    result = MixedResult()
    sent_at: dict[str, float] = {}
    users = []
    for i in range(pairs * 2):
        server = servers[i % len(servers)]
        users.append((server, await server.register(f"mixed{i}")))
    rooms = []
    for p in range(pairs):
        (sa, a), (sb, b) = users[2 * p], users[2 * p + 1]
        b_id = (await _call(sb, "GET", "/account/whoami", None, b))["user_id"]
        room = (await _call(sa, "POST", "/createRoom", {"preset": "trusted_private_chat", "invite": [b_id],
                                                      "is_direct": True}, a))["room_id"]
        await _call(sb, "POST", f"/join/{room}", {}, b)
        rooms.append(room)
    ids = {token: (await _call(server, "GET", "/account/whoami", None, token))["user_id"] for server, token in users}
    deadline = time.monotonic() + seconds
    stop = asyncio.Event()

    async def talk(index: int) -> None:
        server, token = users[index]
        room = rooms[index // 2]
        for n in itertools.count():
            if time.monotonic() >= deadline:
                return
            body = f"{index}/{n}"
            sent_at[body] = time.perf_counter()
            await _call(server, "PUT", f"/rooms/{room}/send/m.room.message/m{n}", {"msgtype": "m.text", "body": body},
                        token)
            result.sent += 1
            await asyncio.sleep(interval * random.uniform(0.5, 1.5))

    async def listen(index: int) -> None:
        server, token = users[index]
        room = rooms[index // 2]
        since = (await server.call("GET", CLIENT + "/sync?timeout=0", None, token))["next_batch"]
        while not stop.is_set():
            body = await server.call("GET", CLIENT + f"/sync?timeout=2000&since={since}", None, token)
            since = body["next_batch"]
            now = time.perf_counter()
            last = None
            for event in body["rooms"]["join"].get(room, {}).get("timeline", {}).get("events", []):
                text = event["content"].get("body", "") if event["type"] == "m.room.message" else ""
                if text in sent_at and not text.startswith(f"{index}/"):
                    result.delivered.setdefault(text, (now - sent_at[text]) * 1000)
                    last = event["event_id"]
            if last is not None:
                await _call(server, "POST", f"/rooms/{room}/receipt/m.read/{last}", {}, token)
                await _call(server, "POST", f"/rooms/{room}/read_markers", {"m.fully_read": last}, token)
                if random.random() < 0.2:
                    await _call(server, "PUT", f"/user/{ids[token]}/account_data/org.example.seen", {"at": last},
                                token)

    async def create_rooms(index: int) -> None:
        server = servers[index % len(servers)]
        token = await server.register(f"creator{index}")
        while time.monotonic() < deadline:
            await _call(server, "POST", "/createRoom", {"preset": "private_chat", "name": "busy"}, token)

    listeners = [asyncio.create_task(listen(i)) for i in range(len(users))]
    await asyncio.sleep(0.5)
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(talk(i) for i in range(len(users))), *(create_rooms(i) for i in range(creators)))
    await asyncio.sleep(3.0)  # the last messages' long-polls return
    stop.set()
    await asyncio.gather(*listeners)
    return result
