"""The change feed over real HTTP and a real PostgreSQL: a change reaches every parked
/sync that should see it the moment its position is readable, never before, never lost
behind an older write still in flight."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from homeserver.streams import Change, Invalidation, Stream
from homeserver.streams.changes import decode, encode
from tests.helpers import TestServer, User, parked
from tests.rooms.test_rooms import create_room


async def _dm(server: TestServer) -> tuple[User, User, str]:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="trusted_private_chat", invite=[bob.user_id], is_direct=True)
    assert (await bob.post(f"join/{room_id}")).status == 200
    return alice, bob, room_id


async def _sync(user: User, since: str | None = None, timeout: int = 0, **params: str) -> dict[str, Any]:
    query = {"timeout": str(timeout), **params}
    if since is not None:
        query["since"] = since
    resp = await user.get("sync", params=query)
    assert resp.status == 200, resp
    return resp.body


def _messages(body: dict[str, Any], room_id: str) -> list[str]:
    room = body["rooms"]["join"].get(room_id, {})
    return [e["content"]["body"] for e in room.get("timeline", {}).get("events", []) if e["type"] == "m.room.message"]


async def test_a_message_behind_an_unrelated_write_arrives_when_that_write_commits(server: TestServer) -> None:
    """The stall the outside test found: a /sync woken while an older, unrelated write
    held the position back computed nothing and parked for its whole timeout."""
    alice, bob, room_id = await _dm(server)
    token = (await _sync(bob))["next_batch"]
    hs = server.hs
    release = asyncio.Event()
    held = asyncio.Event()

    async def unrelated_write() -> None:
        async with hs.feed.writing(Stream.EVENTS) as writer, hs.db.transaction() as conn:
            await writer.next(conn, Stream.EVENTS)  # a position below the message's, in flight
            held.set()
            await release.wait()

    writing = asyncio.create_task(unrelated_write())
    await held.wait()
    waiting = asyncio.create_task(_sync(bob, token, timeout=10_000))
    await asyncio.sleep(0.1)
    resp = await alice.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi"})
    assert resp.status == 200
    await asyncio.sleep(0.3)
    assert not waiting.done(), "the message is not readable while a lower position is in flight"
    released = time.monotonic()
    release.set()
    body = await asyncio.wait_for(waiting, 5)
    took = time.monotonic() - released
    await writing
    assert _messages(body, room_id) == ["hi"]
    assert took < 1.0, f"delivered {took:.3f} s after the older write committed"


async def test_a_write_in_flight_in_another_stream_does_not_delay_messages(server: TestServer) -> None:
    alice, bob, room_id = await _dm(server)
    token = (await _sync(bob))["next_batch"]
    hs = server.hs
    release = asyncio.Event()
    held = asyncio.Event()

    async def slow_receipt() -> None:
        async with hs.feed.writing(Stream.RECEIPTS) as writer, hs.db.transaction() as conn:
            await writer.next(conn, Stream.RECEIPTS)
            held.set()
            await release.wait()

    writing = asyncio.create_task(slow_receipt())
    await held.wait()
    try:
        waiting = asyncio.create_task(_sync(bob, token, timeout=10_000))
        await asyncio.sleep(0.1)
        await alice.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi"})
        body = await asyncio.wait_for(waiting, 5)
        assert _messages(body, room_id) == ["hi"]
    finally:
        release.set()
        await writing


async def test_room_account_data_alone_reaches_the_next_sync(server: TestServer) -> None:
    alice, bob, room_id = await _dm(server)
    room_filter = json.dumps({"room": {"rooms": [room_id]}})
    for sync_filter in (None, room_filter):
        extra = {"filter": sync_filter} if sync_filter else {}
        token = (await _sync(bob, **extra))["next_batch"]
        waiting = asyncio.create_task(_sync(bob, token, timeout=10_000, **extra))
        await asyncio.sleep(0.1)
        path = f"user/{bob.user_id}/rooms/{room_id}/account_data/org.example.colour"
        assert (await bob.put(path, {"colour": "teal" if sync_filter else "red"})).status == 200
        body = await asyncio.wait_for(waiting, 5)
        events = body["rooms"]["join"][room_id]["account_data"]["events"]
        assert events == [{"type": "org.example.colour", "content": {"colour": "teal" if sync_filter else "red"}}]


async def test_a_change_dispatched_while_a_sync_computes_wakes_it_when_it_parks(server: TestServer) -> None:
    alice, bob, room_id = await _dm(server)
    hs = server.hs
    upto, seq = hs.feed.current()  # what a /sync computed at ...
    await alice.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "meanwhile"})
    with hs.feed.waiter(bob.user_id, [room_id], upto, seq) as waiter:  # ... before it parked
        assert waiter.woken.is_set()
        assert waiter.changes is not None and [e.event_id for c in waiter.changes for e in c.events]


async def test_changes_wake_only_whom_they_concern(server: TestServer) -> None:
    alice, bob, room_id = await _dm(server)
    carol = await server.register("carol")
    with parked(server.hs, bob.user_id, [room_id]) as bobs, parked(server.hs, carol.user_id) as carols:
        await alice.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi"})
        assert bobs.woken.is_set() and not carols.woken.is_set()


async def test_a_woken_sync_answers_from_memory(server: TestServer) -> None:
    """Delivered from what the feed carries: the same response the database gives."""
    alice, bob, room_id = await _dm(server)
    token = (await _sync(bob))["next_batch"]
    waiting = asyncio.create_task(_sync(bob, token, timeout=10_000))
    await asyncio.sleep(0.1)
    await alice.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi @bob"})
    from_memory = await asyncio.wait_for(waiting, 5)
    assert server.hs.metrics.registry.get_sample_value("homeserver_sync_wakeups_total", {"answered": "memory"}) == 1
    from_database = await _sync(bob, token)
    for body in (from_memory, from_database):
        body.pop("next_batch")
        for event in body["rooms"]["join"][room_id]["timeline"]["events"]:
            event.get("unsigned", {}).pop("age", None)
    assert from_memory == from_database
    assert from_memory["rooms"]["join"][room_id]["unread_notifications"]["notification_count"] == 1


def test_changes_cross_processes_in_payloads_postgresql_accepts() -> None:
    rooms = frozenset(f"!room{i}:example.org" for i in range(400))
    change = Change({Stream.EVENTS: 41, Stream.RECEIPTS: 40}, rooms=rooms, users=frozenset({"@a:example.org"}),
                    invalidations=(Invalidation("room_heads", "!room1:example.org"),))
    payloads = encode(change, "7")
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    parts = [decode(json.loads(p)) for p in payloads]
    assert all(p.positions == {Stream.EVENTS: 41, Stream.RECEIPTS: 40} for p in parts)
    assert frozenset().union(*(p.rooms for p in parts)) == rooms
    assert {u for p in parts for u in p.users} == {"@a:example.org"}
    assert parts[0].invalidations == (Invalidation("room_heads", "!room1:example.org"),)
    assert all(p.origin == "7" for p in parts)


async def test_delivery_survives_losing_the_feed_connection(server: TestServer, caplog: Any) -> None:
    """PostgreSQL drops the connections that join this process to the others: it says
    so, stops delivering what it cannot be sure of, reconnects and catches up."""
    alice, bob, room_id = await _dm(server)
    token = (await _sync(bob))["next_batch"]
    waiting = asyncio.create_task(_sync(bob, token, timeout=15_000))
    await asyncio.sleep(0.1)
    caplog.set_level("INFO", logger="homeserver.streams.peers")
    killed = await server.hs.db.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'homeserver-feed'"
    )
    assert killed == 3
    await alice.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "still here"})
    body = await asyncio.wait_for(waiting, 10)
    assert _messages(body, room_id) == ["still here"]
    for _ in range(50):
        if server.hs.peers.connected:
            break
        await asyncio.sleep(0.1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost the database connection" in m for m in messages), messages
    assert any("connection back" in m for m in messages), messages
    assert server.hs.leases.held("pushers"), "the jobs are this process's again"


async def test_servers_of_other_databases_on_the_same_postgresql_are_not_peers(
    server: TestServer, start_server: Any, postgres_url: str, template_database: str
) -> None:
    """Advisory locks are the whole PostgreSQL server's: another homeserver keeping its
    database there is neither a peer nor a rival for the background jobs."""
    import asyncpg

    from tests.conftest import _with_database, make_config
    from tests.helpers import start_test_server

    name = f"hs_other_{int(time.time() * 1000)}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    await admin.close()
    other = await start_test_server(make_config(_with_database(postgres_url, name), str(server.hs.config.data_dir)))
    try:
        assert not server.hs.peers.others and not other.hs.peers.others
        for _ in range(30):
            if other.hs.leases.held("pushers"):
                break
            await asyncio.sleep(0.1)
        assert server.hs.leases.held("pushers") and other.hs.leases.held("pushers")
    finally:
        await other.close()
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def test_a_process_starting_during_a_write_waits_for_it(server: TestServer, database_url: str) -> None:
    """The sequence's last value may belong to a write still in flight elsewhere: a new
    process serves positions only once that write has ended."""
    from tests.conftest import make_config
    from tests.helpers import start_test_server

    hs = server.hs
    release, held = asyncio.Event(), asyncio.Event()

    async def slow_write() -> int:
        async with hs.feed.writing(Stream.EVENTS) as writer, hs.db.transaction() as conn:
            [position] = await writer.next(conn, Stream.EVENTS)
            held.set()
            await release.wait()
        return position

    writing = asyncio.create_task(slow_write())
    await held.wait()
    starting = asyncio.create_task(start_test_server(make_config(database_url, str(hs.config.data_dir))))
    await asyncio.sleep(0.5)
    assert not starting.done(), "it waits for the write in flight"
    release.set()
    position = await writing
    other = await asyncio.wait_for(starting, 10)
    try:
        assert other.hs.feed.readable(Stream.EVENTS) >= position
    finally:
        await other.close()
