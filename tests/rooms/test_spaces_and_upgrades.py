"""Spaces and room upgrades over real HTTP: the hierarchy walks a space tree as the spec
orders it, shows only rooms the requester may see, and pages; an upgrade makes the new
room, tombstones the old one and moves its aliases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import TestServer, User

V1 = "/_matrix/client/v1"


async def make_room(user: User, **body: Any) -> str:
    resp = await user.post("createRoom", body)
    assert resp.status == 200, resp
    return resp.body["room_id"]


async def add_child(user: User, space: str, child: str, **content: Any) -> None:
    resp = await user.put(f"rooms/{space}/state/m.space.child/{child}", {"via": ["test.local"], **content})
    assert resp.status == 200, resp


async def hierarchy(user: User, space: str, **params: Any) -> Any:
    return await user.get(f"{V1}/rooms/{space}/hierarchy", params={k: str(v).lower() if isinstance(v, bool) else str(v)
                                                                     for k, v in params.items()})


async def test_hierarchy_walks_the_tree_in_order_and_hides_what_the_user_may_not_see(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    space = await make_room(alice, preset="public_chat", name="Space", creation_content={"type": "m.space"})
    sub = await make_room(alice, preset="public_chat", name="Sub", creation_content={"type": "m.space"})
    a = await make_room(alice, preset="public_chat", name="A")
    b = await make_room(alice, preset="public_chat", name="B", topic="bees")
    deep = await make_room(alice, preset="public_chat", name="Deep")
    secret = await make_room(alice, preset="private_chat", name="Secret")
    await add_child(alice, space, b, order="b")
    await add_child(alice, space, a, order="a", suggested=True)
    await add_child(alice, space, sub)  # no order: after those with one
    await add_child(alice, space, secret)
    await add_child(alice, sub, deep)
    resp = await alice.put(f"rooms/{space}/state/m.space.child/!gone:test.local", {})  # no via: not a child
    assert resp.status == 200

    found = await hierarchy(bob, space)
    assert found.status == 200, found
    rooms = found.body["rooms"]
    assert [r["room_id"] for r in rooms] == [space, a, b, sub, deep], "depth first, secret hidden from bob"
    top = rooms[0]
    assert top["room_type"] == "m.space" and top["name"] == "Space" and top["join_rule"] == "public"
    assert top["num_joined_members"] == 1 and top["world_readable"] is False and top["room_version"]
    assert [c["state_key"] for c in top["children_state"]] == [a, b, sub, secret]
    assert all(set(c) == {"type", "state_key", "content", "sender", "origin_server_ts"} for c in top["children_state"])
    assert rooms[2]["topic"] == "bees" and rooms[1]["children_state"] == []
    assert "next_batch" not in found.body

    assert [r["room_id"] for r in (await hierarchy(alice, space)).body["rooms"]] == [space, a, b, sub, deep, secret]
    assert [r["room_id"] for r in (await hierarchy(bob, space, max_depth=1)).body["rooms"]] == [space, a, b, sub]
    assert [r["room_id"] for r in (await hierarchy(bob, space, suggested_only=True)).body["rooms"]] == [space, a]

    pages, token = [], None
    while True:
        params = {"limit": 2, **({"from": token} if token else {})}
        page = await hierarchy(bob, space, **params)
        assert page.status == 200, page
        pages.append([r["room_id"] for r in page.body["rooms"]])
        token = page.body.get("next_batch")
        if token is None:
            break
    assert pages == [[space, a], [b, sub], [deep]]
    first = (await hierarchy(bob, space, limit=2)).body["next_batch"]
    changed = await hierarchy(bob, space, limit=2, max_depth=1, **{"from": first})
    assert (changed.status, changed.errcode) == (400, "M_INVALID_PARAM")
    assert (await hierarchy(bob, space, **{"from": "garbage"})).errcode == "M_INVALID_PARAM"
    assert (await hierarchy(bob, space, limit=0)).errcode == "M_INVALID_PARAM"
    assert (await hierarchy(bob, secret)).status == 403
    assert (await hierarchy(bob, "!nowhere:test.local")).status == 403


@pytest.mark.parametrize("old_version, new_version", [("10", "12"), ("12", "12"), ("12", "11")])
async def test_upgrade_replaces_the_room(server: TestServer, old_version: str, new_version: str) -> None:
    alice, bob, mallory = [await server.register(n) for n in ("alice", "bob", "mallory")]
    room_id = await make_room(alice, preset="public_chat", room_version=old_version, name="Old name",
                              topic="The topic", room_alias_name="lobby", visibility="public",
                              initial_state=[{"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    await bob.post(f"join/{room_id}")
    await mallory.post(f"join/{room_id}")
    assert (await alice.post(f"rooms/{room_id}/ban", {"user_id": mallory.user_id, "reason": "spam"})).status == 200

    refused = await bob.post(f"rooms/{room_id}/upgrade", {"new_version": new_version})
    assert (refused.status, refused.errcode) == (403, "M_FORBIDDEN")
    bad = await alice.post(f"rooms/{room_id}/upgrade", {"new_version": "99"})
    assert (bad.status, bad.errcode) == (400, "M_UNSUPPORTED_ROOM_VERSION")

    resp = await alice.post(f"rooms/{room_id}/upgrade", {"new_version": new_version})
    assert resp.status == 200, resp
    new_room = resp.body["replacement_room"]
    create = (await alice.get(f"rooms/{new_room}/state/m.room.create/")).body
    assert create["room_version"] == new_version and create["predecessor"]["room_id"] == room_id
    for event_type, key in (("m.room.name", "name"), ("m.room.topic", "topic"), ("m.room.encryption", "algorithm"),
                            ("m.room.join_rules", "join_rule")):
        old = (await alice.get(f"rooms/{room_id}/state/{event_type}/")).body
        assert (await alice.get(f"rooms/{new_room}/state/{event_type}/")).body[key] == old[key]
    tombstone = (await bob.get(f"rooms/{room_id}/state/m.room.tombstone/")).body
    assert tombstone["replacement_room"] == new_room

    # The alias and the directory listing follow; the old room is quiet; bans carry over.
    assert (await bob.get("directory/room/%23lobby:test.local")).body["room_id"] == new_room
    assert (await bob.get(f"directory/list/room/{new_room}")).body == {"visibility": "public"}
    assert (await bob.get(f"directory/list/room/{room_id}")).body == {"visibility": "private"}
    talk = await bob.put(f"rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi"})
    assert (talk.status, talk.errcode) == (403, "M_FORBIDDEN")
    assert (await mallory.post(f"join/{new_room}")).status == 403
    assert (await bob.post(f"join/{new_room}")).status == 200
    new_levels = (await alice.get(f"rooms/{new_room}/state/m.room.power_levels/")).body
    if new_version == "12":
        assert alice.user_id not in new_levels["users"], "a v12 creator is not listed (rule 10.4)"
    else:
        assert new_levels["users"][alice.user_id] == 100
