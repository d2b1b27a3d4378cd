"""Account data over real HTTP: global and per-room, owner only, server-managed types refused."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.storage import account_data as store
from homeserver.users import directory
from tests.helpers import TestServer, User

ROOM = "!abcdefghijklmnop:test.local"
OTHER_ROOM = "!zyxwvutsrqponmlk"  # room version 12: no domain


async def register_in_rooms(server: TestServer, localpart: str) -> User:
    """A user with a membership in ROOM and OTHER_ROOM: per-room account data needs one."""
    user = await server.register(localpart)
    for room_id in (ROOM, OTHER_ROOM):
        await server.hs.db.pool.execute(
            "INSERT INTO room_memberships (user_id, room_id, membership, event_id, sender, stream_ordering)"
            " VALUES ($1, $2, 'join', '$fake', $1, 0)", user.user_id, room_id)
    return user


def global_path(user: User | str, data_type: str) -> str:
    user_id = user if isinstance(user, str) else user.user_id
    return f"user/{user_id}/account_data/{data_type}"


def room_path(user: User | str, room_id: str, data_type: str) -> str:
    user_id = user if isinstance(user, str) else user.user_id
    return f"user/{user_id}/rooms/{room_id}/account_data/{data_type}"


async def assert_absent(user: User, path: str) -> None:
    resp = await user.get(path)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), path


async def test_global_round_trip_and_overwrite(server: TestServer) -> None:
    alice = await register_in_rooms(server, "alice")
    path = global_path(alice, "org.example.config")
    await assert_absent(alice, path)
    content = {"theme": "dark", "nested": {"list": [1, 2.5, None, True, "ü"]}}
    resp = await alice.put(path, content)
    assert (resp.status, resp.body) == (200, {})
    assert (await alice.get(path)).body == content
    assert (await alice.put(path, {"theme": "light"})).status == 200
    assert (await alice.get(path)).body == {"theme": "light"}
    # An empty object is a value like any other.
    assert (await alice.put(path, {})).status == 200
    assert (await alice.get(path)).body == {}


async def test_room_data_is_separate_per_room_and_from_global(server: TestServer) -> None:
    alice = await register_in_rooms(server, "alice")
    other_room = OTHER_ROOM
    assert (await alice.put(room_path(alice, ROOM, "m.tag"), {"tags": {"u.work": {}}})).status == 200
    assert (await alice.put(room_path(alice, other_room, "m.tag"), {"tags": {}})).status == 200
    assert (await alice.get(room_path(alice, ROOM, "m.tag"))).body == {"tags": {"u.work": {}}}
    assert (await alice.get(room_path(alice, other_room, "m.tag"))).body == {"tags": {}}
    await assert_absent(alice, global_path(alice, "m.tag"))
    await assert_absent(alice, room_path(alice, "!another:test.local", "m.tag"))

    assert (await alice.put(global_path(alice, "m.tag"), {"global": True})).status == 200
    assert (await alice.get(room_path(alice, ROOM, "m.tag"))).body == {"tags": {"u.work": {}}}


async def test_users_cannot_read_or_write_each_others_data(server: TestServer) -> None:
    alice = await register_in_rooms(server, "alice")
    bob = await server.register("bob")
    for path in (global_path(alice, "org.example.secret"), room_path(alice, ROOM, "org.example.secret")):
        assert (await alice.put(path, {"secret": 1})).status == 200
        resp = await bob.get(path)
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
        resp = await bob.put(path, {"secret": "overwritten"})
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
        assert (await alice.get(path)).body == {"secret": 1}
    # Nor can bob write where alice has nothing yet, or for a user on another server.
    for target in (alice.user_id, "@alice:elsewhere.example", "@nobody:test.local"):
        resp = await bob.put(global_path(target, "org.example.new"), {"x": 1})
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), target
    await assert_absent(alice, global_path(alice, "org.example.new"))


@pytest.mark.parametrize("data_type", ["m.fully_read", "m.push_rules"])
async def test_server_managed_types_are_refused(server: TestServer, data_type: str) -> None:
    alice = await register_in_rooms(server, "alice")
    for path in (global_path(alice, data_type), room_path(alice, ROOM, data_type)):
        resp = await alice.put(path, {"event_id": "$abc"})
        assert (resp.status, resp.errcode) == (405, "M_BAD_JSON"), path
        if path != global_path(alice, "m.push_rules"):  # that one reads the push rules
            await assert_absent(alice, path)


@pytest.mark.parametrize("data, errcode", [
    (b"{nope", "M_NOT_JSON"),
    (b"", "M_NOT_JSON"),
    (b"[1, 2]", "M_BAD_JSON"),
    (b'"a string"', "M_BAD_JSON"),
    (b"42", "M_BAD_JSON"),
    (b"null", "M_BAD_JSON"),
    (b'{"nul": "a\\u0000b"}', "M_BAD_JSON"),
    (b'{"deep": [{"k\\u0000": 1}]}', "M_BAD_JSON"),
])
async def test_content_must_be_a_json_object(server: TestServer, data: bytes, errcode: str) -> None:
    alice = await register_in_rooms(server, "alice")
    for path in (global_path(alice, "org.example.x"), room_path(alice, ROOM, "org.example.x")):
        resp = await alice.request("PUT", path, data=data, headers={"Content-Type": "application/json"})
        assert (resp.status, resp.errcode) == (400, errcode), path
        await assert_absent(alice, path)


@pytest.mark.parametrize("room_id", ["%23alias:test.local", "@alice:test.local", "!", "room", "!a%00b", "!" + "a" * 255])
async def test_room_id_must_look_like_a_room_id(server: TestServer, room_id: str) -> None:
    alice = await register_in_rooms(server, "alice")
    path = "/_matrix/client/v3/" + room_path(alice, room_id, "org.example.x")
    for method in ("GET", "PUT"):
        resp = await alice.request(method, path, {"x": 1})
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), method


@pytest.mark.parametrize("data_type", ["a%00b", "t" * 256])
async def test_unusable_types_are_refused(server: TestServer, data_type: str) -> None:
    alice = await register_in_rooms(server, "alice")
    for path in (global_path(alice, data_type), room_path(alice, ROOM, data_type)):
        for method in ("GET", "PUT"):
            resp = await alice.request(method, "/_matrix/client/v3/" + path, {"x": 1})
            assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), (method, path)


async def test_malformed_user_id(server: TestServer) -> None:
    alice = await register_in_rooms(server, "alice")
    for method in ("GET", "PUT"):
        resp = await alice.request(method, global_path("alice", "org.example.x"), {"x": 1})
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("scope", ["global", "room"])
async def test_endpoints_need_a_valid_token(server: TestServer, method: str, scope: str) -> None:
    alice = await register_in_rooms(server, "alice")
    path = global_path(alice, "org.example.x") if scope == "global" else room_path(alice, ROOM, "org.example.x")
    resp = await server.request(method, path, {"x": 1})
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    resp = await server.request(method, path, {"x": 1}, token="mat_nonsense")
    assert (resp.status, resp.errcode) == (401, "M_UNKNOWN_TOKEN")
    await assert_absent(alice, path)


async def test_every_write_takes_a_new_stream_position(server: TestServer) -> None:
    """/sync will send account data changes in stream order: each write must move forward."""
    alice = await register_in_rooms(server, "alice")

    async def stream_id(room_id: str, data_type: str) -> Any:
        return await server.hs.db.pool.fetchval(
            "SELECT stream_id FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3",
            alice.user_id, room_id, data_type,
        )

    await alice.put(global_path(alice, "org.example.a"), {"v": 1})
    first = await stream_id(store.GLOBAL, "org.example.a")
    await alice.put(room_path(alice, ROOM, "org.example.b"), {"v": 1})
    second = await stream_id(ROOM, "org.example.b")
    await alice.put(global_path(alice, "org.example.a"), {"v": 2})
    third = await stream_id(store.GLOBAL, "org.example.a")
    assert first < second < third


async def test_directory_setting_hides_only_as_global_data(server: TestServer) -> None:
    alice = await register_in_rooms(server, "alice")
    bob = await server.register("bob")

    async def bob_finds_alice() -> bool:
        resp = await bob.post("user_directory/search", {"search_term": "alice"})
        assert resp.status == 200, resp
        return alice.user_id in [r["user_id"] for r in resp.body["results"]]

    hidden = {"searchable": False}
    assert (await alice.put(room_path(alice, ROOM, directory.SETTING_TYPE), hidden)).status == 200
    assert await bob_finds_alice()
    assert (await bob.put(global_path(alice, directory.SETTING_TYPE), hidden)).status == 403
    assert await bob_finds_alice()
    assert (await alice.put(global_path(alice, directory.SETTING_TYPE), hidden)).status == 200
    assert not await bob_finds_alice()


async def test_room_data_needs_a_membership(server: TestServer) -> None:
    carol = await server.register("carol")
    resp = await carol.put(room_path(carol, "!never:test.local", "m.tag"), {"tags": {}})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")


async def test_push_rules_read_as_account_data(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await alice.get(global_path(alice, "m.push_rules"))
    assert resp.status == 200
    assert any(r["rule_id"] == ".m.rule.master" for r in resp.body["global"]["override"])
