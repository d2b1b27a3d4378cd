"""Three server processes on one database, clients spread over them: every acknowledged
event reaches every member once and in order, whichever process each talks to; a
process killed mid-run loses nothing acknowledged and stalls nobody; an ended session
is refused everywhere at once; typing crosses; a pusher fires once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.streams.cluster import Client, Cluster, free_port, register

ROOMS = 3
SENDERS = 6
READERS = 3
PER_SENDER = 12


@pytest.fixture
async def cluster(database_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        cluster = Cluster(database_url, tmp_path, session)
        try:
            yield cluster
        finally:
            await cluster.stop_all()


async def _start(cluster: Cluster, count: int) -> None:
    for _ in range(count):
        await cluster.start(cluster.add())


async def _create_room(owner: Client, **body: Any) -> str:
    status, resp = await owner.request("POST", "createRoom", {"preset": "public_chat", **body})
    assert status == 200, resp
    return resp["room_id"]


async def _join_all(users: list[Client], rooms: list[str]) -> None:
    for user in users:
        for room_id in rooms:
            status, resp = await user.request("POST", f"join/{room_id}")
            assert status == 200, resp


class Reader:
    """A member syncing through one process, keeping what it saw of the rooms."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: list[tuple[str, str]] = []
        self.token: str | None = None

    async def sync(self, timeout: int = 0) -> dict[str, Any]:
        params = {"timeout": str(timeout), "filter": '{"room": {"timeline": {"limit": 100}}}'}
        if self.token is not None:
            params["since"] = self.token
        status, body = await self.client.request("GET", "sync", **params)
        assert status == 200, body
        for room_id, room in body["rooms"]["join"].items():
            assert not room["timeline"]["limited"], "a reader keeping up never misses a gap"
            self.seen += [(room_id, e["event_id"]) for e in room["timeline"]["events"] if e["type"] == "m.room.message"]
        self.token = body["next_batch"]
        return body

    async def read_until(self, done: asyncio.Event) -> None:
        """Read while the senders send, then until a long-poll of 2 s brings nothing."""
        while not done.is_set():
            await self.sync(timeout=200)
        while True:
            seen = len(self.seen)
            await self.sync(timeout=2000)
            if len(self.seen) == seen:
                return


async def _send(client: Client, room_id: str, txn: str, body: str) -> str:
    for _ in range(50):
        status, resp = await client.request("PUT", f"rooms/{room_id}/send/m.room.message/{txn}",
                                            {"msgtype": "m.text", "body": body})
        if status == 200:
            return resp["event_id"]
        assert status >= 500 or status == 429, resp
        await asyncio.sleep(0.05)
    raise AssertionError(f"could not send {body}")


async def _stream_order(cluster: Cluster, owner: Client, event_ids: set[str]) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(cluster.database_url)
    try:
        rows = await conn.fetch("SELECT event_id, stream_ordering FROM events WHERE event_id = ANY($1::text[])",
                                list(event_ids))
    finally:
        await conn.close()
    return {r["event_id"]: r["stream_ordering"] for r in rows}


def _check(readers: list[Reader], sent: set[str], order: dict[str, int], rooms: list[str]) -> None:
    for reader in readers:
        ids = [event_id for _, event_id in reader.seen]
        assert len(ids) == len(set(ids)), "no event twice"
        assert set(ids) == sent, f"no event missed ({len(sent - set(ids))} missing)"
        for room_id in rooms:
            positions = [order[e] for r, e in reader.seen if r == room_id]
            assert positions == sorted(positions), "each room's events in order"


async def test_every_event_reaches_every_member_once_in_order_across_processes(cluster: Cluster) -> None:
    await _start(cluster, 3)
    processes = cluster.processes
    owner = await register(cluster.session, processes[0], "owner")
    rooms = [await _create_room(owner) for _ in range(ROOMS)]
    senders = [await register(cluster.session, processes[i % 3], f"s{i}") for i in range(SENDERS)]
    readers = [Reader(await register(cluster.session, processes[i % 3], f"r{i}")) for i in range(READERS)]
    await _join_all(senders + [r.client for r in readers], rooms)
    for reader in readers:
        await reader.sync()
    done = asyncio.Event()
    reading = [asyncio.create_task(r.read_until(done)) for r in readers]

    async def send(index: int) -> list[str]:
        client = senders[index]
        out = []
        for n in range(PER_SENDER):
            # Each sender moves between processes, as behind a load balancer.
            via = client.via(processes[(index + n) % 3])
            out.append(await _send(via, rooms[(index + n) % ROOMS], f"t{n}", f"{index}/{n}"))
        return out

    sent = {e for ids in await asyncio.gather(*(send(i) for i in range(SENDERS))) for e in ids}
    done.set()
    try:
        await asyncio.wait_for(asyncio.gather(*reading), 60)
    except BaseException:
        print(cluster.logs())
        raise
    try:
        _check(readers, sent, await _stream_order(cluster, owner, sent), rooms)
    except AssertionError:
        print(cluster.logs())
        raise


async def test_a_killed_process_loses_nothing_acknowledged_and_stalls_no_one(cluster: Cluster) -> None:
    await _start(cluster, 3)
    processes = cluster.processes
    owner = await register(cluster.session, processes[0], "owner")
    room_id = await _create_room(owner)
    senders = [await register(cluster.session, processes[1], f"s{i}") for i in range(2)]
    readers = [Reader(await register(cluster.session, processes[i], f"r{i}")) for i in (0, 2)]
    await _join_all(senders + [r.client for r in readers], [room_id])
    for reader in readers:
        await reader.sync()
    acknowledged: set[str] = set()
    stop = asyncio.Event()

    async def keep_sending(client: Client, name: str) -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            try:
                status, resp = await client.request("PUT", f"rooms/{room_id}/send/m.room.message/k{n}",
                                                    {"msgtype": "m.text", "body": f"{name}/{n}"})
            except aiohttp.ClientError:
                # Its process is down: the load balancer sends it to another one.
                client = client.via(processes[0])
                continue
            if status == 200:
                acknowledged.add(resp["event_id"])
            await asyncio.sleep(0.01)

    loop = asyncio.get_running_loop()
    polls: list[tuple[float, float]] = []

    async def watch(reader: Reader) -> None:
        while not stop.is_set():
            started = loop.time()
            await reader.sync(timeout=5000)
            polls.append((started, loop.time() - started))

    sending = [asyncio.create_task(keep_sending(c, f"s{i}")) for i, c in enumerate(senders)]
    watching = [asyncio.create_task(watch(r)) for r in readers]
    await asyncio.sleep(1.0)
    await cluster.kill(processes[1])
    await asyncio.sleep(1.0)
    await cluster.start(processes[1])
    await asyncio.sleep(1.0)
    stopped = loop.time()
    stop.set()
    await asyncio.gather(*sending, *watching)
    # While messages kept coming (every 10 ms), the longest any long-poll waited for news:
    # the last ones, started once the senders stopped, rightly wait out their timeout.
    longest = max(took for started, took in polls if started < stopped - 0.5)
    assert longest < 3.0, f"a long-poll on a live process waited {longest:.1f} s"
    for reader in readers:
        await reader.sync()
    order = await _stream_order(cluster, owner, acknowledged)
    assert len(order) == len(acknowledged), "every acknowledged message is stored"
    for reader in readers:
        seen = {e for _, e in reader.seen}
        assert acknowledged <= seen, f"{len(acknowledged - seen)} acknowledged messages never reached a reader"


async def test_a_logout_on_one_process_is_refused_by_another_at_once(cluster: Cluster) -> None:
    await _start(cluster, 2)
    first, second = cluster.processes
    alice = await register(cluster.session, first, "alice")
    assert (await alice.via(second).request("GET", "account/whoami"))[0] == 200, "cached on the second"
    status, _ = await alice.request("POST", "logout", {})
    assert status == 200
    status, body = await alice.via(second).request("GET", "account/whoami")
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_typing_set_through_one_process_is_seen_through_another(cluster: Cluster) -> None:
    await _start(cluster, 2)
    first, second = cluster.processes
    alice = await register(cluster.session, first, "alice")
    bob = Reader(await register(cluster.session, second, "bob"))
    room_id = await _create_room(alice)
    await _join_all([bob.client], [room_id])
    await bob.sync()
    waiting = asyncio.create_task(_typing_seen(bob, room_id))
    await asyncio.sleep(0.2)
    status, _ = await alice.request("PUT", f"rooms/{room_id}/typing/{alice.user_id}", {"typing": True, "timeout": 20000})
    assert status == 200
    assert await asyncio.wait_for(waiting, 5) == [alice.user_id]


async def _typing_seen(reader: Reader, room_id: str) -> list[str]:
    """The typers of the first response that has any (an earlier one may carry news of
    the reader's own presence, which a process makes readable a moment after writing)."""
    while True:
        body = await reader.sync(timeout=10_000)
        for event in body["rooms"]["join"].get(room_id, {}).get("ephemeral", {}).get("events", []):
            if event["type"] == "m.typing":
                return event["content"]["user_ids"]


async def test_a_pusher_fires_once_with_two_processes(cluster: Cluster) -> None:
    received: list[dict[str, Any]] = []

    async def notify(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"rejected": []})

    gateway = web.Application()
    gateway.router.add_post("/_matrix/push/v1/notify", notify)
    runner = web.AppRunner(gateway)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await _start(cluster, 2)
        first, second = cluster.processes
        alice = await register(cluster.session, first, "alice")
        bob = await register(cluster.session, second, "bob")
        status, resp = await bob.request("POST", "pushers/set", {
            "kind": "http", "app_id": "org.example.app", "pushkey": "bobs-phone", "app_display_name": "App",
            "device_display_name": "Phone", "lang": "en",
            "data": {"url": f"http://127.0.0.1:{port}/_matrix/push/v1/notify"},
        })
        assert status == 200, resp
        room_id = await _create_room(alice, preset="trusted_private_chat", invite=[bob.user_id], is_direct=True)
        await _join_all([bob], [room_id])
        for n, via in enumerate((first, second, first, second)):
            await _send(alice.via(via), room_id, f"p{n}", f"push {n}")
        for _ in range(100):
            if len([r for r in received if "event_id" in r["notification"]]) >= 4:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a second sender would have posted by now
        messages = [r["notification"] for r in received if r["notification"].get("type") == "m.room.message"]
        assert sorted(m["content"]["body"] for m in messages) == [f"push {n}" for n in range(4)], received
    finally:
        await runner.cleanup()
