"""/sync: delivery latency, memory per parked long-poll, initial and incremental sync.

    python bench/bench_sync.py [--database-url URL] [--idle 1000,10000] [--rounds 300]

1. Delivery: bob parks a long-poll /sync; alice sends; the time from alice's send to
   bob's /sync returning with the message. p50 and p99 over --rounds; also the time
   alice's send took to answer.
2. Idle long-polls: N users each park a /sync (timeout 60 s); the server's RSS before and
   with all N parked.
3. Initial sync: a user in 100 rooms with 50 messages each; full initial /sync time.
4. Incremental sync: with nothing new and timeout=0, requests per second.
5. Mixed load (issue 10's script, bench/_load.py): --pairs pairs chatting in DMs, each
   side sending a message every --interval seconds, answering each with a read receipt,
   a read marker and now and then account data, while 3 users keep creating rooms, for
   --mixed-seconds; every message's delivery to its partner's /sync: how many arrived,
   p50, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http import RawConnection  # noqa: E402
from bench._load import mixed_load  # noqa: E402
from bench._server import Server, percentile, running_server, server_rss_mb, summary  # noqa: E402

CHEAP_HASH = {"auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}}}
CLIENT = "/_matrix/client/v3"


async def _sync(server: Server, token: str, since: str | None = None, timeout: int = 0, filter: str | None = None) -> dict:
    params = {"timeout": str(timeout)}
    if since:
        params["since"] = since
    if filter:
        params["filter"] = filter
    async with server.session.get(server.url + CLIENT + "/sync", params=params,
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def delivery(server: Server, rounds: int) -> tuple[list[float], list[float]]:
    """Alice and bob each on a keep-alive connection of the minimal client (bench/_http.py),
    so the figure is the server's: aiohttp's client adds ~0.4 ms of CPU a request."""
    alice, bob = await server.register("alice"), await server.register("bob")
    room = (await server.call("POST", CLIENT + "/createRoom", {"preset": "public_chat"}, alice))["room_id"]
    await server.call("POST", CLIENT + f"/join/{room}", {}, bob)
    since = (await _sync(server, bob))["next_batch"]
    alice_conn, bob_conn = await RawConnection.open(server.url), await RawConnection.open(server.url)

    async def long_poll(since: str) -> dict:
        status, body = await bob_conn.request("GET", f"{CLIENT}/sync?since={since}&timeout=30000", token=bob)
        assert status == 200, body
        return body

    samples, send_parts = [], []
    for i in range(rounds):
        waiting = asyncio.create_task(long_poll(since))
        await asyncio.sleep(0.005)  # let the long-poll park
        started = time.perf_counter()
        status, sent = await alice_conn.request("PUT", CLIENT + f"/rooms/{room}/send/m.room.message/d{i}",
                                                {"msgtype": "m.text", "body": f"ping {i}"}, alice)
        assert status == 200, sent
        send_parts.append((time.perf_counter() - started) * 1000)
        body = await waiting
        while room not in body["rooms"]["join"]:  # woken first by something else (presence)
            body = await long_poll(body["next_batch"])
        samples.append((time.perf_counter() - started) * 1000)
        since = body["next_batch"]
    await alice_conn.close()
    await bob_conn.close()
    return samples, send_parts


async def idle_long_polls(server: Server, count: int, offset: int) -> tuple[float, float]:
    tokens = []
    for start in range(0, count, 50):
        batch = [server.register(f"idle{offset + i}") for i in range(start, min(count, start + 50))]
        tokens += await asyncio.gather(*batch)
    sinces = []
    for start in range(0, count, 100):
        sinces += [b["next_batch"] for b in await asyncio.gather(*(_sync(server, t) for t in tokens[start:start + 100]))]
    before = server_rss_mb(server)
    polls = [asyncio.create_task(_sync(server, t, s, timeout=120_000)) for t, s in zip(tokens, sinces)]
    await asyncio.sleep(max(5.0, count / 1000))  # let every request reach the server and park
    parked = server_rss_mb(server)
    for p in polls:
        p.cancel()
    await asyncio.gather(*polls, return_exceptions=True)
    return before, parked


async def initial_sync(server: Server, rooms: int, messages: int) -> float:
    user = await server.register("busy")
    room_ids = [(await server.call("POST", CLIENT + "/createRoom", {"preset": "private_chat", "name": f"room {r}"}, user))["room_id"]
                for r in range(rooms)]
    for room in room_ids:
        for m in range(messages):
            await server.call("PUT", CLIENT + f"/rooms/{room}/send/m.room.message/{m}",
                              {"msgtype": "m.text", "body": f"message {m}"}, user)
    await _sync(server, user)  # warm caches once, as a returning client would find them
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        body = await _sync(server, user)
        samples.append((time.perf_counter() - started) * 1000)
    assert len(body["rooms"]["join"]) == rooms
    return percentile(samples, 50)


async def incremental(server: Server, seconds: float) -> float:
    token = await server.register("incremental")
    since = (await _sync(server, token))["next_batch"]
    done = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await _sync(server, token, since)
            done += 1

    await asyncio.gather(*(loop() for _ in range(8)))
    return done / seconds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--idle", default="1000,10000")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--mixed-seconds", type=float, default=30.0)
    args = parser.parse_args()
    async with running_server(args.database_url, CHEAP_HASH) as server:
        samples, send_parts = await delivery(server, args.rounds)
        print(summary("delivery (send -> parked /sync returns)", samples))
        print(summary("  of which the send's own response", send_parts))
        print(f"initial sync, {args.rooms} rooms x {args.messages} messages: "
              f"p50 {await initial_sync(server, args.rooms, args.messages):.0f} ms")
        print(f"incremental sync (nothing new, timeout=0): {await incremental(server, 5):.0f} requests/s")
    if args.mixed_seconds:
        async with running_server(args.database_url, CHEAP_HASH) as server:
            result = await mixed_load([server], args.pairs, 3, args.mixed_seconds, args.interval)
            times = list(result.delivered.values())
            print(f"mixed load ({args.pairs} pairs, a message per {args.interval:g} s each side, 3 creating rooms): "
                  f"{len(times)} of {result.sent} delivered; p50 {percentile(times, 50):.1f} ms, "
                  f"p99 {percentile(times, 99):.1f} ms, max {max(times):.0f} ms")
    offset = 0
    for count in (int(c) for c in args.idle.split(",")):
        async with running_server(args.database_url, CHEAP_HASH) as server:
            before, parked = await idle_long_polls(server, count, offset)
            print(f"idle long-polls: {count}: server RSS {before:.0f} MB before, {parked:.0f} MB with all parked "
                  f"({(parked - before) / count * 1000:.1f} KB each)")
        offset += count


if __name__ == "__main__":
    import uvloop  # the load generator shares the two cores: keep its own cost low

    uvloop.run(main())
