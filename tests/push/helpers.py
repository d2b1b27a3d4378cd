"""Helpers for the push and receipt tests: rooms, messages and the counts /sync serves."""

from __future__ import annotations

import itertools
from typing import Any

from homeserver.storage.push import UnreadCounts, unread_counts
from tests.helpers import TestServer, User

_txn = itertools.count()


async def create_room(user: User, **body: Any) -> str:
    resp = await user.post("createRoom", body)
    assert resp.status == 200, resp
    return resp.body["room_id"]


async def join(user: User, room_id: str) -> None:
    resp = await user.post(f"join/{room_id}")
    assert resp.status == 200, resp


async def send(user: User, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
    resp = await user.put(f"rooms/{room_id}/send/{event_type}/t{next(_txn)}", content)
    assert resp.status == 200, resp
    return resp.body["event_id"]


async def say(user: User, room_id: str, body: str, **extra: Any) -> str:
    return await send(user, room_id, {"msgtype": "m.text", "body": body, **extra})


async def say_in_thread(user: User, room_id: str, root: str, body: str) -> str:
    return await say(user, room_id, body, **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}})


async def receipt(user: User, room_id: str, event_id: str, receipt_type: str = "m.read", **body: Any) -> None:
    resp = await user.post(f"rooms/{room_id}/receipt/{receipt_type}/{event_id}", body)
    assert resp.status == 200, resp


async def unread(user: User, room_id: str) -> UnreadCounts:
    """What /sync reports for the room (homeserver.storage.push.unread_counts)."""
    return (await unread_counts(user.server.hs.db.pool, user.user_id, [room_id]))[room_id]


async def counts(user: User, room_id: str) -> tuple[int, int]:
    """(notification_count, highlight_count) of the whole room."""
    room = (await unread(user, room_id)).room
    return room.notification_count, room.highlight_count


async def dm(server: TestServer) -> tuple[User, User, str]:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, preset="trusted_private_chat", is_direct=True, invite=[bob.user_id])
    await join(bob, room_id)
    return alice, bob, room_id


async def group(server: TestServer) -> tuple[User, User, User, str]:
    alice = await server.register("alice")
    bob = await server.register("bob")
    carol = await server.register("carol")
    room_id = await create_room(alice, preset="public_chat")
    await join(bob, room_id)
    await join(carol, room_id)
    return alice, bob, carol, room_id
