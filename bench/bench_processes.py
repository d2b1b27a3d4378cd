"""Several server processes on one PostgreSQL (issue 10): throughput and delivery with
1, 2 and 3 processes, idle long-polls spread over two, and delivery under mixed load.

    python bench/bench_processes.py [--database-url URL] [--processes 1,2,3] [--senders 50] [--seconds 10]
                                    [--rounds 300] [--idle 10000] [--mixed-seconds 30]

For each number of processes N (sharing the database, signing key and media, as behind a
load balancer that spreads clients evenly):
1. throughput: --senders users, each in a room of their own, user i on process i mod N,
   send as fast as they can for --seconds; messages per second, and CPU per message of
   the server processes, PostgreSQL and the load generator;
2. delivery: alice sends on process 0 while bob's long-poll waits on process N-1 (so it
   crosses processes when N > 1); p50 and p99 over --rounds;
3. mixed load (issue 10's script: 20 pairs chatting with receipts, read markers and
   account data, 3 users creating rooms), users spread over the N processes: every
   message delivered, max, p50, p99.
Then --idle long-polls parked over two processes: each process's RSS.
Without --database-url an embedded PostgreSQL is started for the run.
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
from bench._load import mixed_load  # noqa: E402
from bench._server import (  # noqa: E402
    Server, cpu_seconds_by_command, percentile, process_cpu_seconds, running_cluster, server_rss_mb, summary,
)

CHEAP_HASH = {"auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}}}
CLIENT = "/_matrix/client/v3"


async def throughput(servers: list[Server], senders: int, seconds: float) -> str:
    tokens = [await servers[i % len(servers)].register(f"sender{i}") for i in range(senders)]
    rooms = [(await servers[i % len(servers)].call("POST", CLIENT + "/createRoom", {"preset": "private_chat"}, t))["room_id"]
             for i, t in enumerate(tokens)]
    connections = [await RawConnection.open(servers[i % len(servers)].url) for i in range(senders)]
    sent = 0

    async def loop(index: int) -> None:
        nonlocal sent
        for n in itertools.count():
            if time.monotonic() >= deadline:
                return
            status, body = await connections[index].request(
                "PUT", f"{CLIENT}/rooms/{rooms[index]}/send/m.room.message/c{n}",
                {"msgtype": "m.text", "body": f"message c{n}"}, tokens[index],
            )
            if status != 200:
                raise RuntimeError(f"send: {status} {body}")
            sent += 1

    before = cpu_seconds_by_command()
    servers_before = sum(process_cpu_seconds(s.process.pid) for s in servers)
    own_before = time.process_time()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(loop(i) for i in range(senders)))
    elapsed = time.monotonic() - started
    after = cpu_seconds_by_command()
    server_cpu = sum(process_cpu_seconds(s.process.pid) for s in servers) - servers_before
    postgres = after.get("postgres", 0.0) - before.get("postgres", 0.0)
    own = time.process_time() - own_before
    for connection in connections:
        await connection.close()
    per = 1e6 / max(sent, 1)
    return (f"{sent / elapsed:.0f} messages/s; CPU per message: server processes {server_cpu * per:.0f} us, "
            f"PostgreSQL {postgres * per:.0f} us, load generator {own * per:.0f} us")


async def delivery(servers: list[Server], rounds: int) -> list[float]:
    first, last = servers[0], servers[-1]
    alice, bob = await first.register("alice"), await last.register("bob")
    room = (await first.call("POST", CLIENT + "/createRoom", {"preset": "public_chat"}, alice))["room_id"]
    await last.call("POST", CLIENT + f"/join/{room}", {}, bob)
    since = (await last.call("GET", CLIENT + "/sync?timeout=0", None, bob))["next_batch"]
    alice_conn, bob_conn = await RawConnection.open(first.url), await RawConnection.open(last.url)

    async def long_poll(since: str) -> dict:
        status, body = await bob_conn.request("GET", f"{CLIENT}/sync?since={since}&timeout=30000", token=bob)
        assert status == 200, body
        return body

    samples = []
    for i in range(rounds):
        waiting = asyncio.create_task(long_poll(since))
        await asyncio.sleep(0.005)
        started = time.perf_counter()
        status, sent = await alice_conn.request("PUT", f"{CLIENT}/rooms/{room}/send/m.room.message/d{i}",
                                                {"msgtype": "m.text", "body": f"ping {i}"}, alice)
        assert status == 200, sent
        body = await waiting
        while room not in body["rooms"]["join"]:  # woken first by something else (presence)
            body = await long_poll(body["next_batch"])
        samples.append((time.perf_counter() - started) * 1000)
        since = body["next_batch"]
    await alice_conn.close()
    await bob_conn.close()
    return samples


async def idle(servers: list[Server], count: int) -> str:
    tokens = []
    for start in range(0, count, 50):
        tokens += await asyncio.gather(*(servers[i % len(servers)].register(f"idle{i}")
                                         for i in range(start, min(count, start + 50))))
    where = [servers[i % len(servers)] for i in range(count)]
    sinces = []
    for start in range(0, count, 100):
        sinces += [b["next_batch"] for b in await asyncio.gather(*(
            s.call("GET", CLIENT + "/sync?timeout=0", None, t) for s, t in zip(where[start:start + 100], tokens[start:start + 100])))]
    before = [server_rss_mb(s) for s in servers]
    polls = [asyncio.create_task(s.call("GET", CLIENT + f"/sync?timeout=120000&since={since}", None, t))
             for s, t, since in zip(where, tokens, sinces)]
    await asyncio.sleep(max(5.0, count / 1000))
    parked = [server_rss_mb(s) for s in servers]
    for p in polls:
        p.cancel()
    await asyncio.gather(*polls, return_exceptions=True)
    return ", ".join(f"process {i}: {b:.0f} MB before, {p:.0f} MB parked" for i, (b, p) in enumerate(zip(before, parked)))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--mixed-seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    for count in (int(n) for n in args.processes.split(",")):
        async with running_cluster(count, args.database_url, CHEAP_HASH) as servers:
            print(f"{count} process(es): throughput, {args.senders} senders in {args.senders} rooms: "
                  f"{await throughput(servers, args.senders, args.seconds)}")
            print(f"{count} process(es): " + summary("delivery (send on the first -> /sync on the last)",
                                                     await delivery(servers, args.rounds)))
            if args.mixed_seconds:
                result = await mixed_load(servers, pairs=20, creators=3, seconds=args.mixed_seconds,
                                          interval=args.interval)
                times = list(result.delivered.values())
                print(f"{count} process(es): mixed load: {len(times)} of {result.sent} messages delivered; "
                      f"p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms, max {max(times):.0f} ms")
    if args.idle:
        async with running_cluster(2, args.database_url, CHEAP_HASH) as servers:
            print(f"{args.idle} idle long-polls over 2 processes: {await idle(servers, args.idle)}")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
