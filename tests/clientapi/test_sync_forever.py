"""``sync_forever``: real time, a persisted position across restarts of the program, and
a server that restarts under it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from clientapi import Client, FileStore, MessageEvent

from bots.testing import MatrixTestServer, TestUser


class Inbox:
    """Collects the messages a client's handlers receive, and waits for them."""

    def __init__(self, client: Client) -> None:
        self.bodies: list[str] = []
        self._changed = asyncio.Event()

        @client.on(MessageEvent)
        async def collect(room, event):  # type: ignore[no-untyped-def]
            self.bodies.append(event.body)
            self._changed.set()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[str]:
        async def enough() -> None:
            while len(self.bodies) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(enough(), timeout)
        return self.bodies


async def dm(server: MatrixTestServer) -> tuple[TestUser, TestUser, str]:
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    room_id = await alice.client.start_dm(bob.user_id)
    await bob.client.join(room_id)
    return alice, bob, room_id


async def test_messages_arrive_in_real_time_and_stop_is_prompt(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await dm(matrix_server)
    await bob.client.sync_once()
    inbox = Inbox(bob.client)
    loop = asyncio.create_task(bob.client.sync_forever(timeout_ms=30_000))
    await alice.client.send_text(room_id, "one")
    await alice.client.send_text(room_id, "two")
    assert await inbox.wait_for(2) == ["one", "two"]
    await asyncio.sleep(0.2)  # parked in a long-poll now
    started = asyncio.get_running_loop().time()
    bob.client.stop()
    await asyncio.wait_for(loop, 5)
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_restarted_program_resumes_from_its_saved_position(matrix_server: MatrixTestServer,
                                                                    tmp_path: Path) -> None:
    alice, bob, room_id = await dm(matrix_server)
    store = FileStore(tmp_path / "bob.sync.json")
    inbox = Inbox(bob.client)
    loop = asyncio.create_task(bob.client.sync_forever(store=store))
    for body in ("before 1", "before 2"):
        await alice.client.send_text(room_id, body)
    await inbox.wait_for(2)
    bob.client.stop()
    await loop
    # While Bob's program is down.
    for body in ("while down 1", "while down 2"):
        await alice.client.send_text(room_id, body)
    # The program starts again: a new client, the same session, the same file.
    assert bob.client.session is not None
    again = matrix_server.client(session=bob.client.session)
    second = Inbox(again)
    loop = asyncio.create_task(again.sync_forever(store=store))
    assert await second.wait_for(2) == ["while down 1", "while down 2"]
    # Its room state is whole again from the first sync (full_state on resume).
    assert again.store.rooms[room_id].joined_user_ids == sorted([alice.user_id, bob.user_id])
    await alice.client.send_text(room_id, "after")
    assert await second.wait_for(3) == ["while down 1", "while down 2", "after"]
    again.stop()
    await loop
    assert inbox.bodies == ["before 1", "before 2"]


async def test_sync_forever_rides_out_a_server_restart(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await dm(matrix_server)
    await bob.client.sync_once()
    inbox = Inbox(bob.client)
    loop = asyncio.create_task(bob.client.sync_forever(timeout_ms=5_000))
    await alice.client.send_text(room_id, "before the restart")
    await inbox.wait_for(1)
    position = bob.client.next_batch
    await matrix_server.restart(downtime=1.5)
    await alice.client.send_text(room_id, "after the restart")
    assert await inbox.wait_for(2, timeout=30) == ["before the restart", "after the restart"]
    assert bob.client.next_batch != position and not loop.done()
    bob.client.stop()
    await asyncio.wait_for(loop, 5)


async def test_a_new_program_can_skip_the_backlog(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    alice, bob, room_id = await dm(matrix_server)
    await alice.client.send_text(room_id, "old news")
    inbox = Inbox(bob.client)
    loop = asyncio.create_task(bob.client.sync_forever(store=FileStore(tmp_path / "s.json"), skip_backlog=True))
    while bob.client.next_batch is None:
        await asyncio.sleep(0.05)
    await alice.client.send_text(room_id, "news")
    assert await inbox.wait_for(1) == ["news"]
    bob.client.stop()
    await loop
    assert bob.client.store.rooms[room_id].joined_user_ids == sorted([alice.user_id, bob.user_id])
