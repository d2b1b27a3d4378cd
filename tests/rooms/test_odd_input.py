"""Odd but well-formed requests get the spec's 4xx, never a 500 (issue 9, finding 7)."""

from __future__ import annotations

import pytest

from tests.helpers import TestServer
from tests.rooms.test_rooms import create_room, send_text


async def test_messages_with_limit_zero_is_an_empty_page(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    await send_text(alice, room_id, "hello")
    for direction in ("b", "f"):
        page = await alice.get(f"rooms/{room_id}/messages", params={"dir": direction, "limit": "0"})
        assert page.status == 200, page
        assert page.body["chunk"] == []
        # The page ends where it starts: the next one, asked with a limit, finds the message.
        more = await alice.get(f"rooms/{room_id}/messages",
                               params={"dir": direction, "limit": "10", "from": page.body["end"]})
        assert more.status == 200, more
        assert "hello" in [e["content"].get("body") for e in more.body["chunk"]], direction


@pytest.mark.parametrize("version", ["10", "11", "12"])
async def test_a_second_create_event_is_forbidden(server: TestServer, version: str) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, room_version=version, preset="public_chat")
    assert (await bob.post(f"join/{room_id}")).status == 200
    for user in (alice, bob):
        for path in (f"rooms/{room_id}/state/m.room.create/", f"rooms/{room_id}/state/m.room.create/x",
                     f"rooms/{room_id}/send/m.room.create/t1"):
            resp = await user.put(path, {"room_version": version})
            assert resp.status == 403 and resp.errcode == "M_FORBIDDEN", (user.user_id, path, resp)
    state = await alice.get(f"rooms/{room_id}/state")
    assert [e["type"] for e in state.body].count("m.room.create") == 1
