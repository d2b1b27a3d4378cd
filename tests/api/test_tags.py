"""Room tags over real HTTP (spec: "Room Tagging"): favourites and the like, kept as the
room's m.tag account data that /sync carries to every device."""

from __future__ import annotations

from tests.helpers import TestServer


async def test_tags_are_set_read_synced_and_removed(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = (await alice.post("createRoom", {})).body["room_id"]
    path = f"user/{alice.user_id}/rooms/{room_id}/tags"
    since = (await alice.get("sync")).body["next_batch"]
    assert (await alice.get(path)).body == {"tags": {}}
    assert (await alice.put(f"{path}/m.favourite", {"order": 0.5})).status == 200
    assert (await alice.put(f"{path}/u.work", {})).status == 200
    assert (await alice.get(path)).body == {"tags": {"m.favourite": {"order": 0.5}, "u.work": {}}}

    synced = (await alice.get(f"sync?since={since}")).body["rooms"]["join"][room_id]["account_data"]["events"]
    assert synced == [{"type": "m.tag", "content": {"tags": {"m.favourite": {"order": 0.5}, "u.work": {}}}}]

    assert (await alice.delete(f"{path}/u.work")).status == 200
    assert (await alice.delete(f"{path}/u.never")).status == 200, "removing an absent tag is fine"
    assert (await alice.get(path)).body == {"tags": {"m.favourite": {"order": 0.5}}}


async def test_tags_are_private_and_checked(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = (await alice.post("createRoom", {})).body["room_id"]
    path = f"user/{alice.user_id}/rooms/{room_id}/tags"
    for resp in (await bob.get(path), await bob.put(f"{path}/m.favourite", {})):
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    not_member = await bob.put(f"user/{bob.user_id}/rooms/{room_id}/tags/m.favourite", {})
    assert (not_member.status, not_member.errcode) == (403, "M_FORBIDDEN")
    for body, errcode in (({"order": "first"}, "M_BAD_JSON"), ([], "M_BAD_JSON")):
        resp = await alice.put(f"{path}/m.favourite", body)
        assert (resp.status, resp.errcode) == (400, errcode)
    assert (await alice.put(f"{path}/{'x' * 300}", {})).errcode == "M_INVALID_PARAM"
    assert (await alice.get(f"user/{alice.user_id}/rooms/nope/tags")).errcode == "M_INVALID_PARAM"
    assert (await alice.get(path)).body == {"tags": {}}
