"""Send latency and throughput, over HTTP against a real server process.

    python bench/bench_send.py [--database-url URL] [--senders 50] [--seconds 10]

1. Sequential: one user sends N messages one after another into one room; p50 and p99.
2. Concurrent: --senders users, each in a room of their own, send as fast as they can
   for --seconds; messages per second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http import RawConnection  # noqa: E402
from bench._server import (  # noqa: E402
    Server, cpu_report, cpu_seconds_by_command, process_cpu_seconds, running_server, summary,
)

CHEAP_HASH = {"auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}}}


async def _room(server: Server, token: str) -> str:
    return (await server.call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, token))["room_id"]


async def _send(server: Server, token: str, room_id: str, txn: str) -> None:
    await server.call("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}",
                      {"msgtype": "m.text", "body": f"message {txn}"}, token)


async def sequential(server: Server, count: int) -> list[float]:
    token = await server.register("sequential")
    room_id = await _room(server, token)
    for i in range(50):  # warm up
        await _send(server, token, room_id, f"w{i}")
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await _send(server, token, room_id, f"s{i}")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def concurrent(server: Server, senders: int, seconds: float) -> float:
    tokens = [await server.register(f"sender{i}") for i in range(senders)]
    rooms = [await _room(server, t) for t in tokens]
    sent = 0
    connections = [await RawConnection.open(server.url) for _ in range(senders)]

    async def loop(index: int) -> None:
        nonlocal sent
        connection, token, room_id = connections[index], tokens[index], rooms[index]
        for n in itertools.count():
            if time.monotonic() >= deadline:
                return
            status, body = await connection.request(
                "PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/c{n}",
                {"msgtype": "m.text", "body": f"message c{n}"}, token,
            )
            if status != 200:
                raise RuntimeError(f"send: {status} {body}")
            sent += 1

    before, server_before, own_before = cpu_seconds_by_command(), process_cpu_seconds(server.process.pid), time.process_time()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(loop(i) for i in range(senders)))
    elapsed = time.monotonic() - started
    print(cpu_report(before, cpu_seconds_by_command(), process_cpu_seconds(server.process.pid) - server_before,
                     time.process_time() - own_before, sent))
    for connection in connections:
        await connection.close()
    return sent / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    async with running_server(args.database_url, CHEAP_HASH) as server:
        print(summary("sequential send", await sequential(server, args.count)))
        rate = await concurrent(server, args.senders, args.seconds)
        print(f"concurrent send: {args.senders} senders in {args.senders} rooms: {rate:.0f} messages/s")


if __name__ == "__main__":
    import uvloop  # the load generator shares the two cores: keep its own cost low

    uvloop.run(main())
