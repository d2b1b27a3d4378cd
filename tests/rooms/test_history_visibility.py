"""History visibility on every read path: nobody reads a part of a room they may not see."""

from __future__ import annotations

from tests.helpers import TestServer, User
from tests.rooms.test_rooms import create_room, send_text


async def _room_with(owner: User, visibility: str) -> str:
    room_id = await create_room(owner, preset="public_chat")
    resp = await owner.put(f"rooms/{room_id}/state/m.room.history_visibility",
                           {"history_visibility": visibility})
    assert resp.status == 200
    return room_id


async def _bodies(user: User, room_id: str) -> list[str]:
    page = await user.get(f"rooms/{room_id}/messages", params={"limit": "100"})
    assert page.status == 200, page
    return [e["content"]["body"] for e in reversed(page.body["chunk"]) if e["type"] == "m.room.message"]


async def test_joined_visibility_hides_what_came_before_the_join(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await _room_with(alice, "joined")
    before = await send_text(alice, room_id, "before bob")
    await bob.post(f"join/{room_id}")
    after = await send_text(alice, room_id, "after bob joined")

    assert await _bodies(bob, room_id) == ["after bob joined"]
    assert (await bob.get(f"rooms/{room_id}/event/{before}")).status == 404
    assert (await bob.get(f"rooms/{room_id}/event/{after}")).status == 200
    context = await bob.get(f"rooms/{room_id}/context/{after}", params={"limit": "20"})
    seen = [e["content"].get("body") for e in context.body["events_before"]]
    assert "before bob" not in seen
    assert (await bob.get(f"rooms/{room_id}/context/{before}")).status == 404


async def test_invited_visibility_starts_at_the_invite(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="private_chat")
    await alice.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": "invited"})
    await send_text(alice, room_id, "before the invite")
    await alice.post(f"rooms/{room_id}/invite", {"user_id": bob.user_id})
    await send_text(alice, room_id, "while invited")
    await bob.post(f"join/{room_id}")
    await send_text(alice, room_id, "after joining")
    assert await _bodies(bob, room_id) == ["while invited", "after joining"]


async def test_shared_visibility_shows_the_past_but_not_after_leaving(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await _room_with(alice, "shared")
    await send_text(alice, room_id, "old news")
    await bob.post(f"join/{room_id}")
    assert await _bodies(bob, room_id) == ["old news"]
    await send_text(alice, room_id, "while bob is here")
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    late = await send_text(alice, room_id, "after bob left")
    await alice.put(f"rooms/{room_id}/state/m.room.topic", {"topic": "changed after bob left"})

    assert await _bodies(bob, room_id) == ["while bob is here"], \
        "a user who left sees only what was sent while they were joined"
    assert (await bob.get(f"rooms/{room_id}/event/{late}")).status == 404
    state = await bob.get(f"rooms/{room_id}/state")
    assert not any(e["type"] == "m.room.topic" for e in state.body), "state is as it was when bob left"
    assert (await bob.get(f"rooms/{room_id}/state/m.room.topic")).status == 404
    members = await bob.get(f"rooms/{room_id}/members")
    assert {e["state_key"]: e["content"]["membership"] for e in members.body["chunk"]}[bob.user_id] == "leave"
    assert (await bob.get(f"rooms/{room_id}/joined_members")).status == 403


async def test_world_readable_rooms_can_be_read_by_anyone_on_the_server(server: TestServer) -> None:
    alice, carol = await server.register("alice"), await server.register("carol")
    room_id = await _room_with(alice, "world_readable")
    event_id = await send_text(alice, room_id, "for everyone")
    assert await _bodies(carol, room_id) == ["for everyone"]
    assert (await carol.get(f"rooms/{room_id}/event/{event_id}")).status == 200
    assert (await carol.get(f"rooms/{room_id}/state/m.room.name")).status == 404  # unnamed, but readable
    resp = await carol.put(f"rooms/{room_id}/send/m.room.message/x", {"msgtype": "m.text", "body": "hi"})
    assert resp.status == 403, "reading is not joining"


async def test_invitees_cannot_read_state_before_joining(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="private_chat", name="Secret plans")
    await alice.post(f"rooms/{room_id}/invite", {"user_id": bob.user_id})
    assert (await bob.get(f"rooms/{room_id}/state")).status == 403


async def test_ignored_users_messages_never_reach_the_ignorer(server: TestServer) -> None:
    alice, troll = await server.register("alice"), await server.register("troll")
    room_id = await create_room(alice, preset="public_chat")
    await troll.post(f"join/{room_id}")
    await send_text(alice, room_id, "hello all")
    spam = await send_text(troll, room_id, "spam spam")
    resp = await alice.put(f"user/{alice.user_id}/account_data/m.ignored_user_list",
                           {"ignored_users": {troll.user_id: {}}})
    assert resp.status == 200
    await send_text(troll, room_id, "more spam")
    assert await _bodies(alice, room_id) == ["hello all"]
    assert (await alice.get(f"rooms/{room_id}/event/{spam}")).status == 404
    members = await alice.get(f"rooms/{room_id}/members")
    assert troll.user_id in {e["state_key"] for e in members.body["chunk"]}, "state events still show"
    assert await _bodies(troll, room_id) == ["hello all", "spam spam", "more spam"]
