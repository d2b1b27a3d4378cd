"""Room aliases, the published room directory and mutual rooms, over real HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from homeserver.rooms.mutual_rooms import mutual_rooms
from tests.conftest import StartServer
from tests.helpers import TestServer, User
from tests.rooms.test_rooms import create_room, send_text


def alias_path(alias: str) -> str:
    return "directory/room/" + quote(alias, safe="")


async def join(user: User, room: str) -> None:
    resp = await user.post("join/" + quote(room, safe=""))
    assert resp.status == 200, resp


async def canonical_alias(user: User, room_id: str) -> dict[str, Any]:
    resp = await user.get(f"rooms/{room_id}/state/m.room.canonical_alias")
    assert resp.status == 200, resp
    return resp.body


# --- aliases ---------------------------------------------------------------------------


async def test_alias_create_resolve_join_and_delete(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")

    resp = await alice.put(alias_path("#lobby:test.local"), {"room_id": room_id})
    assert (resp.status, resp.body) == (200, {})

    resolved = await server.request("GET", alias_path("#lobby:test.local"))  # no access token needed
    assert resolved.status == 200
    assert resolved.body == {"room_id": room_id, "servers": ["test.local"]}

    joined = await bob.post("join/" + quote("#lobby:test.local", safe=""))
    assert joined.body == {"room_id": room_id}

    again = await bob.put(alias_path("#lobby:test.local"), {"room_id": room_id})
    assert (again.status, again.errcode) == (409, "M_UNKNOWN")

    # A plain member may add an alias of their own, but not delete the creator's.
    assert (await bob.put(alias_path("#bobs-place:test.local"), {"room_id": room_id})).status == 200
    refused = await bob.delete(alias_path("#lobby:test.local"))
    assert (refused.status, refused.errcode) == (403, "M_FORBIDDEN")
    assert (await server.request("GET", alias_path("#lobby:test.local"))).status == 200

    listed = await bob.get(f"rooms/{room_id}/aliases")
    assert listed.body == {"aliases": ["#bobs-place:test.local", "#lobby:test.local"]}

    # The room's admin may delete anyone's alias; the creator may delete their own.
    assert (await alice.delete(alias_path("#bobs-place:test.local"))).status == 200
    assert (await alice.delete(alias_path("#lobby:test.local"))).status == 200
    gone = await server.request("GET", alias_path("#lobby:test.local"))
    assert (gone.status, gone.errcode) == (404, "M_NOT_FOUND")
    twice = await alice.delete(alias_path("#lobby:test.local"))
    assert (twice.status, twice.errcode) == (404, "M_NOT_FOUND")
    assert (await alice.get(f"rooms/{room_id}/aliases")).body == {"aliases": []}

    # A deleted alias is free to be reused, for another room.
    other = await create_room(bob)
    assert (await bob.put(alias_path("#lobby:test.local"), {"room_id": other})).status == 200
    assert (await server.request("GET", alias_path("#lobby:test.local"))).body["room_id"] == other


async def test_alias_servers_lists_joined_servers_ours_first(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice, preset="public_chat", room_alias_name="mixed")
    async with server.hs.db.pool.acquire() as conn:  # a remote member, as federation would record it
        await conn.execute(
            "INSERT INTO room_memberships (user_id, room_id, membership, event_id, sender, stream_ordering)"
            " VALUES ('@zed:aaa.example', $1, 'join', '$fake', '@zed:aaa.example', 0)", room_id)
    resolved = await server.request("GET", alias_path("#mixed:test.local"))
    assert resolved.body == {"room_id": room_id, "servers": ["test.local", "aaa.example"]}


async def test_alias_creation_is_refused_without_writing(server: TestServer) -> None:
    alice = await server.register("alice")
    eve = await server.register("eve")
    room_id = await create_room(alice, preset="private_chat")

    cases: list[tuple[User, str, Any, int, str]] = [
        (eve, "#mine:test.local", {"room_id": room_id}, 403, "M_FORBIDDEN"),  # not in the room
        (alice, "#theirs:elsewhere.example", {"room_id": room_id}, 400, "M_INVALID_PARAM"),  # not local
        (alice, "nohash:test.local", {"room_id": room_id}, 400, "M_INVALID_PARAM"),
        (alice, "#nocolon", {"room_id": room_id}, 400, "M_INVALID_PARAM"),
        (alice, "#" + "x" * 260 + ":test.local", {"room_id": room_id}, 400, "M_INVALID_PARAM"),
        (alice, "#nul\u0000:test.local", {"room_id": room_id}, 400, "M_INVALID_PARAM"),
        (alice, "#space:bad server", {"room_id": room_id}, 400, "M_INVALID_PARAM"),
        (alice, "#ok:test.local", {"room_id": "!nul\u0000:test.local"}, 400, "M_BAD_JSON"),
        (alice, "#ok:test.local", {}, 400, "M_MISSING_PARAM"),
        (alice, "#ok:test.local", {"room_id": 5}, 400, "M_BAD_JSON"),
        (alice, "#ok:test.local", {"room_id": "not-a-room"}, 400, "M_INVALID_PARAM"),
        (alice, "#ok:test.local", [room_id], 400, "M_BAD_JSON"),
    ]
    for user, alias, body, status, errcode in cases:
        resp = await user.put(alias_path(alias), body)
        assert (resp.status, resp.errcode) == (status, errcode), (alias, body, resp)
    bad_json = await alice.put(alias_path("#ok:test.local"), data=b"{not json")
    assert (bad_json.status, bad_json.errcode) == (400, "M_NOT_JSON")
    no_token = await server.request("PUT", alias_path("#ok:test.local"), {"room_id": room_id})
    assert (no_token.status, no_token.errcode) == (401, "M_MISSING_TOKEN")

    count = await server.hs.db.pool.fetchval("SELECT count(*) FROM room_aliases")
    assert count == 0
    remote = await server.request("GET", alias_path("#theirs:elsewhere.example"))
    assert (remote.status, remote.errcode) == (404, "M_NOT_FOUND")
    remote_join = await alice.post("join/" + quote("#theirs:elsewhere.example", safe=""))
    assert (remote_join.status, remote_join.errcode) == (404, "M_NOT_FOUND")
    invalid = await server.request("GET", alias_path("no-sigil"))
    assert (invalid.status, invalid.errcode) == (400, "M_INVALID_PARAM")


async def test_alias_localparts_may_hold_any_character(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    for alias in ("#a/b:test.local", "#caf\u00e9 ?&=%20:test.local"):
        assert (await alice.put(alias_path(alias), {"room_id": room_id})).status == 200, alias
        assert (await server.request("GET", alias_path(alias))).body["room_id"] == room_id, alias
    assert (await alice.get(f"rooms/{room_id}/aliases")).body == {
        "aliases": ["#a/b:test.local", "#caf\u00e9 ?&=%20:test.local"]}


async def test_alias_to_unknown_room(start_server: StartServer) -> None:
    server = await start_server({"server": {"admins": ["@admin:test.local"]}})
    admin = await server.register("admin")
    alice = await server.register("alice")
    for user, status in ((alice, 403), (admin, 404)):
        resp = await user.put(alias_path("#ghost:test.local"), {"room_id": "!nowhere:test.local"})
        assert resp.status == status, resp
    assert await server.hs.db.pool.fetchval("SELECT count(*) FROM room_aliases") == 0


async def test_deleting_an_alias_updates_the_canonical_alias(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, preset="public_chat", room_alias_name="main")
    assert await canonical_alias(alice, room_id) == {"alias": "#main:test.local"}
    await join(bob, room_id)
    assert (await bob.put(alias_path("#bob:test.local"), {"room_id": room_id})).status == 200
    resp = await alice.put(f"rooms/{room_id}/state/m.room.canonical_alias",
                           {"alias": "#main:test.local", "alt_aliases": ["#bob:test.local"]})
    assert resp.status == 200, resp

    # bob created #bob, so may delete it, though he may not send m.room.canonical_alias:
    # the alias goes, the event stays as it was.
    assert (await bob.delete(alias_path("#bob:test.local"))).status == 200
    assert (await server.request("GET", alias_path("#bob:test.local"))).status == 404
    assert await canonical_alias(alice, room_id) == {"alias": "#main:test.local", "alt_aliases": ["#bob:test.local"]}

    # alice may send it: deleting #main takes it out of the event.
    assert (await alice.delete(alias_path("#main:test.local"))).status == 200
    assert await canonical_alias(alice, room_id) == {"alt_aliases": ["#bob:test.local"]}


async def test_server_admin_may_delete_any_alias(start_server: StartServer) -> None:
    server = await start_server({"server": {"admins": ["@admin:test.local"]}})
    admin = await server.register("admin")
    alice = await server.register("alice")
    room_id = await create_room(alice, room_alias_name="private-corner")
    assert (await admin.delete(alias_path("#private-corner:test.local"))).status == 200
    assert (await server.request("GET", alias_path("#private-corner:test.local"))).status == 404
    assert (await admin.get(f"rooms/{room_id}/aliases")).body == {"aliases": []}
    assert (await admin.get("rooms/!nowhere:test.local/aliases")).status == 404


async def test_local_aliases_are_for_members_or_world_readable_rooms(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    eve = await server.register("eve")
    room_id = await create_room(alice, preset="public_chat", room_alias_name="hall")
    await join(bob, room_id)
    assert (await bob.get(f"rooms/{room_id}/aliases")).body == {"aliases": ["#hall:test.local"]}

    outsider = await eve.get(f"rooms/{room_id}/aliases")
    assert (outsider.status, outsider.errcode) == (403, "M_FORBIDDEN")
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    assert (await bob.get(f"rooms/{room_id}/aliases")).status == 403, "former members are outsiders"
    unknown = await eve.get("rooms/!nowhere:test.local/aliases")
    assert (unknown.status, unknown.errcode) == (403, "M_FORBIDDEN")
    assert (await eve.get("rooms/not-a-room/aliases")).errcode == "M_INVALID_PARAM"

    resp = await alice.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": "world_readable"})
    assert resp.status == 200
    assert (await eve.get(f"rooms/{room_id}/aliases")).body == {"aliases": ["#hall:test.local"]}


# --- published room directory -----------------------------------------------------------


async def _populated_directory(server: TestServer) -> tuple[list[User], dict[str, str]]:
    """Three listed rooms (3, 2 and 1 members), one private and one invite-only published."""
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    rooms = {
        "big": await create_room(alice, visibility="public", name="Big Hall", topic="Everyone is here",
                                 room_alias_name="big"),
        "mid": await create_room(bob, visibility="public", name="Cheese Lovers", topic="Tasty CHEESE",
                                 creation_content={"type": "m.space"}, initial_state=[
                                     {"type": "m.room.avatar", "content": {"url": "mxc://test.local/abc"}},
                                     {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
                                 ]),
        "small": await create_room(carol, visibility="public", name="Quiet corner"),
        "private": await create_room(alice, visibility="private", preset="public_chat", name="Unlisted"),
        "invite_only": await create_room(alice, visibility="public", preset="private_chat", name="Invite only"),
    }
    for user in (bob, carol):
        await join(user, rooms["big"])
    await join(alice, rooms["mid"])
    return [alice, bob, carol], rooms


async def test_public_room_list_contents_and_order(server: TestServer) -> None:
    (alice, _, _), rooms = await _populated_directory(server)
    resp = await server.request("GET", "publicRooms")  # the spec allows it without a token
    assert resp.status == 200, resp
    assert [r["room_id"] for r in resp.body["chunk"]] == [rooms["big"], rooms["mid"], rooms["small"]]
    assert resp.body["total_room_count_estimate"] == 3
    assert "next_batch" not in resp.body and "prev_batch" not in resp.body
    big, mid, small = resp.body["chunk"]
    assert big == {
        "room_id": rooms["big"], "num_joined_members": 3, "name": "Big Hall", "topic": "Everyone is here",
        "canonical_alias": "#big:test.local", "join_rule": "public", "world_readable": False,
        "guest_can_join": False,
    }
    assert mid == {
        "room_id": rooms["mid"], "num_joined_members": 2, "name": "Cheese Lovers", "topic": "Tasty CHEESE",
        "join_rule": "public", "world_readable": False, "guest_can_join": True, "room_type": "m.space",
        "avatar_url": "mxc://test.local/abc",
    }
    assert small["num_joined_members"] == 1 and "room_type" not in small

    # The same list for a signed-in user; a bad token is refused, not ignored.
    assert (await alice.get("publicRooms")).body == resp.body
    bad = await server.request("GET", "publicRooms", token="nonsense")
    assert (bad.status, bad.errcode) == (401, "M_UNKNOWN_TOKEN")


async def test_public_room_list_follows_membership_and_state(server: TestServer) -> None:
    (alice, bob, carol), rooms = await _populated_directory(server)
    # carol's room overtakes once it has more members; an empty room is not listed.
    for user in (alice, bob):
        await join(user, rooms["small"])
    assert (await carol.post(f"rooms/{rooms['big']}/leave")).status == 200
    order = [r["room_id"] for r in (await alice.get("publicRooms")).body["chunk"]]
    assert order == [rooms["small"], *sorted([rooms["big"], rooms["mid"]])], "2 members each: by room ID"

    # A new topic shows; a redacted name disappears, and is no longer searchable.
    topic = await carol.put(f"rooms/{rooms['small']}/state/m.room.topic", {
        "topic": "old plain", "m.topic": {"m.text": [{"mimetype": "text/html", "body": "<b>new</b>"},
                                                     {"body": "new plain"}]}})
    assert topic.status == 200
    named = await carol.put(f"rooms/{rooms['small']}/state/m.room.name", {"name": "Secret plan"})
    name_event = named.body["event_id"]
    found = await alice.post("publicRooms", {"filter": {"generic_search_term": "secret"}})
    assert [r["room_id"] for r in found.body["chunk"]] == [rooms["small"]]
    redact = await carol.put(f"rooms/{rooms['small']}/redact/{name_event}/r1", {})
    assert redact.status == 200, redact
    entry = next(r for r in (await alice.get("publicRooms")).body["chunk"] if r["room_id"] == rooms["small"])
    assert "name" not in entry and entry["topic"] == "new plain"
    found = await alice.post("publicRooms", {"filter": {"generic_search_term": "secret"}})
    assert found.body["chunk"] == [] and found.body["total_room_count_estimate"] == 0

    # Everyone leaving a room takes it off the list.
    for user in (alice, bob, carol):
        await user.post(f"rooms/{rooms['small']}/leave")
    order = [r["room_id"] for r in (await alice.get("publicRooms")).body["chunk"]]
    assert order == sorted([rooms["big"], rooms["mid"]])


async def test_public_room_list_survives_content_postgres_json_cannot_hold(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice, visibility="public", name="Tricky")
    resp = await alice.put(f"rooms/{room_id}/state/m.room.topic", {"topic": "nul here"})
    assert resp.status == 200, resp
    # Clients may not send U+0000, but an event from another server may carry it.
    await server.hs.db.pool.execute("UPDATE events SET json = replace(json, 'nul here', 'nul \\u0000 here')"
                                    " WHERE event_id = $1", resp.body["event_id"])
    other = await create_room(alice, visibility="public", name="C:\\users\\ud800 path")
    listed = await server.request("GET", "publicRooms")
    assert listed.status == 200, listed
    entries = {r["room_id"]: r for r in listed.body["chunk"]}
    assert entries[room_id]["name"] == "Tricky" and "topic" not in entries[room_id]
    assert entries[other]["name"] == "C:\\users\\ud800 path"
    found = await alice.post("publicRooms", {"filter": {"generic_search_term": "tricky"}})
    assert [r["room_id"] for r in found.body["chunk"]] == [room_id]


async def test_public_room_list_pagination(server: TestServer) -> None:
    (alice, _, _), rooms = await _populated_directory(server)
    expected = [rooms["big"], rooms["mid"], rooms["small"]]

    seen, since, pages = [], None, []
    while True:
        params = {"limit": "1", **({"since": since} if since else {})}
        page = await alice.get("publicRooms", params=params)
        assert page.status == 200, page
        assert page.body["total_room_count_estimate"] == 3
        pages.append(page.body)
        seen += [r["room_id"] for r in page.body["chunk"]]
        since = page.body.get("next_batch")
        if since is None:
            break
    assert seen == expected and len(pages) == 3
    assert "prev_batch" not in pages[0]
    # Back from the last page: the middle room, with tokens both ways.
    back = await alice.get("publicRooms", params={"limit": "1", "since": pages[2]["prev_batch"]})
    assert [r["room_id"] for r in back.body["chunk"]] == [rooms["mid"]]
    assert "next_batch" in back.body and "prev_batch" in back.body
    first = await alice.get("publicRooms", params={"limit": "5", "since": back.body["prev_batch"]})
    assert [r["room_id"] for r in first.body["chunk"]] == [rooms["big"]]
    assert "prev_batch" not in first.body
    forward = await alice.get("publicRooms", params={"limit": "5", "since": first.body["next_batch"]})
    assert [r["room_id"] for r in forward.body["chunk"]] == expected[1:]

    # POST paginates the same way, including with a filter.
    post = await alice.post("publicRooms", {"limit": 2})
    assert [r["room_id"] for r in post.body["chunk"]] == expected[:2]
    rest = await alice.post("publicRooms", {"limit": 2, "since": post.body["next_batch"]})
    assert [r["room_id"] for r in rest.body["chunk"]] == expected[2:] and "next_batch" not in rest.body
    empty = await alice.get("publicRooms", params={"limit": "0"})
    assert empty.body["chunk"] == [] and empty.body["total_room_count_estimate"] == 3


async def test_public_room_search_and_room_types(server: TestServer) -> None:
    (alice, _, _), rooms = await _populated_directory(server)

    async def search(filter_: dict[str, Any]) -> list[str]:
        resp = await alice.post("publicRooms", {"filter": filter_})
        assert resp.status == 200, resp
        return [r["room_id"] for r in resp.body["chunk"]]

    assert await search({"generic_search_term": "cheese"}) == [rooms["mid"]]  # name and topic, any case
    assert await search({"generic_search_term": "EVERYONE"}) == [rooms["big"]]  # topic
    assert await search({"generic_search_term": "#big:"}) == [rooms["big"]]  # canonical alias
    assert await search({"generic_search_term": "unlisted"}) == []  # not published
    assert await search({"generic_search_term": "nothing like it"}) == []
    assert await search({"generic_search_term": "  "}) == [rooms["big"], rooms["mid"], rooms["small"]]
    assert await search({"room_types": ["m.space"]}) == [rooms["mid"]]
    assert await search({"room_types": [None]}) == [rooms["big"], rooms["small"]]
    assert await search({"room_types": [None, "m.space"]}) == [rooms["big"], rooms["mid"], rooms["small"]]
    assert await search({"room_types": ["org.example.other"]}) == []
    assert await search({"room_types": [None], "generic_search_term": "quiet"}) == [rooms["small"]]
    resp = await alice.post("publicRooms", {"include_all_networks": True})
    assert len(resp.body["chunk"]) == 3
    resp = await alice.post("publicRooms", {"third_party_instance_id": "irc-libera"})
    assert resp.body["chunk"] == []


async def test_public_room_list_bad_input(server: TestServer) -> None:
    alice = await server.register("alice")
    await create_room(alice, visibility="public")
    get_cases = [
        ({"limit": "-1"}, 400, "M_INVALID_PARAM"),
        ({"limit": "many"}, 400, "M_INVALID_PARAM"),
        ({"since": "garbage!"}, 400, "M_INVALID_PARAM"),
        ({"since": "WyJ4IiwxLCIhYSJd"}, 400, "M_INVALID_PARAM"),  # ["x",1,"!a"]: wrong direction
        ({"since": "WyJmIiwxLCIhYVx1MDAwMCJd"}, 400, "M_INVALID_PARAM"),  # a NUL in the room ID
        ({"since": "WyJmIiwxODQ0Njc0NDA3MzcwOTU1MTYxNSwiIWEiXQ"}, 400, "M_INVALID_PARAM"),  # past any count
        ({"server": "not a server!"}, 400, "M_INVALID_PARAM"),
        ({"server": "elsewhere.example"}, 404, "M_NOT_FOUND"),
    ]
    for params, status, errcode in get_cases:
        resp = await alice.get("publicRooms", params=params)
        assert (resp.status, resp.errcode) == (status, errcode), (params, resp)
    assert (await alice.get("publicRooms", params={"server": "test.local"})).status == 200

    post_cases: list[tuple[Any, str]] = [
        ({"limit": -5}, "M_INVALID_PARAM"),
        ({"limit": "5"}, "M_BAD_JSON"),
        ({"since": 3}, "M_BAD_JSON"),
        ({"filter": "cheese"}, "M_BAD_JSON"),
        ({"filter": {"generic_search_term": 7}}, "M_BAD_JSON"),
        ({"filter": {"room_types": "m.space"}}, "M_BAD_JSON"),
        ({"filter": {"room_types": [1]}}, "M_BAD_JSON"),
        ({"filter": {"generic_search_term": "a\u0000b"}}, "M_BAD_JSON"),
        ({"filter": {"room_types": ["m.\u0000"]}}, "M_BAD_JSON"),
        ({"include_all_networks": "yes"}, "M_BAD_JSON"),
        ({"include_all_networks": True, "third_party_instance_id": "irc"}, "M_INVALID_PARAM"),
        ([], "M_BAD_JSON"),
    ]
    for body, errcode in post_cases:
        resp = await alice.post("publicRooms", body)
        assert (resp.status, resp.errcode) == (400, errcode), (body, resp)
    not_json = await alice.post("publicRooms", data=b"nope")
    assert not_json.errcode == "M_NOT_JSON"
    no_token = await server.request("POST", "publicRooms", {})
    assert (no_token.status, no_token.errcode) == (401, "M_MISSING_TOKEN")


async def test_directory_visibility_toggling_and_permissions(start_server: StartServer) -> None:
    server = await start_server({"server": {"admins": ["@admin:test.local"]}})
    alice, bob, eve, admin = [await server.register(n) for n in ("alice", "bob", "eve", "admin")]
    room_id = await create_room(alice, preset="public_chat", name="Toggle me")
    await join(bob, room_id)

    async def listed() -> bool:
        chunk = (await server.request("GET", "publicRooms")).body["chunk"]
        return room_id in [r["room_id"] for r in chunk]

    path = f"directory/list/room/{room_id}"
    assert (await server.request("GET", path)).body == {"visibility": "private"}
    assert not await listed()

    # A plain member and an outsider may not publish it; nothing changes.
    for user in (bob, eve):
        resp = await user.put(path, {"visibility": "public"})
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), resp
    assert (await server.request("GET", path)).body == {"visibility": "private"}

    assert (await alice.put(path, {"visibility": "public"})).status == 200
    assert (await server.request("GET", path)).body == {"visibility": "public"}
    assert await listed()

    # Giving bob the canonical alias level lets him unpublish it (Synapse's rule).
    levels = (await alice.get(f"rooms/{room_id}/state/m.room.power_levels")).body
    levels["users"] = {**levels.get("users", {}), bob.user_id: 50}
    assert (await alice.put(f"rooms/{room_id}/state/m.room.power_levels", levels)).status == 200
    assert (await bob.put(path, {"visibility": "private"})).status == 200
    assert not await listed()

    # A server admin may publish without being in the room; an empty body means public.
    assert (await admin.put(path, {})).status == 200
    assert (await server.request("GET", path)).body == {"visibility": "public"}

    bad = await alice.put(path, {"visibility": "secret"})
    assert (bad.status, bad.errcode) == (400, "M_BAD_JSON")
    assert (await server.request("GET", path)).body == {"visibility": "public"}
    unknown = await alice.put("directory/list/room/!nowhere:test.local", {"visibility": "public"})
    assert (unknown.status, unknown.errcode) == (404, "M_NOT_FOUND")
    unknown = await server.request("GET", "directory/list/room/!nowhere:test.local")
    assert (unknown.status, unknown.errcode) == (404, "M_NOT_FOUND")
    assert (await server.request("GET", "directory/list/room/nowhere")).errcode == "M_INVALID_PARAM"
    assert (await server.request("GET", "directory/list/room/!a%00b:test.local")).errcode == "M_INVALID_PARAM"
    no_token = await server.request("PUT", path, {"visibility": "private"})
    assert no_token.status == 401


async def test_published_invite_only_room_is_not_listed_until_joinable(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice, visibility="public", preset="private_chat", name="Members only")
    assert (await alice.get(f"directory/list/room/{room_id}")).body == {"visibility": "public"}
    assert (await alice.get("publicRooms")).body["chunk"] == []
    await alice.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": "world_readable"})
    entry = (await alice.get("publicRooms")).body["chunk"]
    assert [(r["room_id"], r["join_rule"], r["world_readable"]) for r in entry] == [(room_id, "invite", True)]


# --- mutual rooms -------------------------------------------------------------------------


MUTUAL = "/_matrix/client/v1/mutual_rooms"


async def test_mutual_rooms(server: TestServer) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    shared = sorted([await create_room(alice, preset="public_chat") for _ in range(3)])
    for room_id in shared:
        await join(bob, room_id)
    await create_room(alice)  # alice alone
    invited = await create_room(alice, invite=[bob.user_id])  # bob only invited

    resp = await alice.get(MUTUAL, params={"user_id": bob.user_id})
    assert resp.status == 200, resp
    assert resp.body == {"joined": shared, "count": 3}
    assert invited not in resp.body["joined"]
    assert (await bob.get(MUTUAL, params={"user_id": alice.user_id})).body == {"joined": shared, "count": 3}
    assert (await alice.get(MUTUAL, params={"user_id": carol.user_id})).body == {"joined": [], "count": 0}
    # Not a user here at all: an empty list, as the spec requires.
    assert (await alice.get(MUTUAL, params={"user_id": "@ghost:test.local"})).body == {"joined": [], "count": 0}

    await bob.post(f"rooms/{shared[1]}/leave")
    assert (await alice.get(MUTUAL, params={"user_id": bob.user_id})).body["joined"] == [shared[0], shared[2]]
    unstable = await alice.get("/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms",
                               params={"user_id": bob.user_id})
    assert unstable.body["count"] == 2


async def test_mutual_rooms_pagination(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    shared = sorted([await create_room(alice, preset="public_chat") for _ in range(3)])
    for room_id in shared:
        await join(bob, room_id)
    first = await mutual_rooms(server.hs, alice.user_id, bob.user_id, None, page_size=2)
    assert first.joined == shared[:2] and first.count == 3 and first.next_batch is not None
    rest = await alice.get(MUTUAL, params={"user_id": bob.user_id, "from": first.next_batch})
    assert rest.body == {"joined": shared[2:], "count": 3}


@pytest.mark.parametrize(("params", "errcode"), [
    ({}, "M_MISSING_PARAM"),
    ({"user_id": "bob"}, "M_INVALID_PARAM"),
    ({"user_id": "@bob"}, "M_INVALID_PARAM"),
    ({"user_id": "@alice:test.local"}, "M_INVALID_PARAM"),  # oneself
    ({"user_id": "@bob:test.local", "from": "!!!"}, "M_INVALID_PARAM"),
])
async def test_mutual_rooms_bad_input(server: TestServer, params: dict[str, str], errcode: str) -> None:
    alice = await server.register("alice")
    resp = await alice.get(MUTUAL, params=params)
    assert (resp.status, resp.errcode) == (400, errcode), resp
    assert (await server.request("GET", MUTUAL, params={"user_id": "@bob:test.local"})).status == 401


async def test_message_in_room_found_by_alias(server: TestServer) -> None:
    """The user story: find a room by its alias, join it and talk."""
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat", room_alias_name="town-square")
    await join(bob, "#town-square:test.local")
    await send_text(bob, room_id, "hello town")
    page = await alice.get(f"rooms/{room_id}/messages", params={"limit": "5"})
    assert "hello town" in [e["content"].get("body") for e in page.body["chunk"]]


async def test_canonical_alias_must_point_to_the_room(server: TestServer) -> None:
    owner = await server.register("aliasowner")
    first = (await owner.post("createRoom", {"room_alias_name": "first"})).body["room_id"]
    second = (await owner.post("createRoom", {"room_alias_name": "second"})).body["room_id"]
    path = f"rooms/{second}/state/m.room.canonical_alias"
    resp = await owner.put(path, {"alias": "#first:test.local"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_ALIAS")
    resp = await owner.put(path, {"alias": "#second:test.local", "alt_aliases": ["#nowhere:test.local"]})
    assert (resp.status, resp.errcode) == (400, "M_BAD_ALIAS")
    resp = await owner.put(path, {"alias": "not an alias"})
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
    resp = await owner.put(path, {"alias": "#second:test.local", "alt_aliases": ["#elsewhere:other.example"]})
    assert resp.status == 200
    assert first
