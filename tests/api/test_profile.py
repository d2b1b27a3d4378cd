"""Profiles over real HTTP: reading, changing, validation and who may change what."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import StartServer
from tests.helpers import TestServer, User


def profile_path(user_id: str, field: str = "") -> str:
    return f"profile/{user_id}" + (f"/{field}" if field else "")


async def uploaded(user: User) -> str:
    """An mxc URI of media this user just uploaded: local avatars must name real media."""
    resp = await user.post("/_matrix/media/v3/upload", data=b"\x89PNG\r\n\x1a\n", headers={"Content-Type": "image/png"})
    assert resp.status == 200, resp
    return resp.body["content_uri"]


async def profile_of(reader: User, user_id: str) -> Any:
    resp = await reader.get(profile_path(user_id))
    assert resp.status == 200, resp
    return resp.body


async def test_new_user_has_localpart_as_display_name(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    assert await profile_of(bob, alice.user_id) == {"displayname": "alice"}
    resp = await bob.get(profile_path(alice.user_id, "displayname"))
    assert (resp.status, resp.body) == (200, {"displayname": "alice"})
    # No avatar yet: absent from the profile, 404 for the field itself.
    resp = await bob.get(profile_path(alice.user_id, "avatar_url"))
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")


async def test_set_display_name_and_avatar(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    resp = await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": "Alice Liddell 🐇"})
    assert (resp.status, resp.body) == (200, {})
    avatar = await uploaded(alice)
    resp = await alice.put(profile_path(alice.user_id, "avatar_url"), {"avatar_url": avatar})
    assert (resp.status, resp.body) == (200, {})
    assert await profile_of(bob, alice.user_id) == {"displayname": "Alice Liddell 🐇", "avatar_url": avatar}
    resp = await bob.get(profile_path(alice.user_id, "avatar_url"))
    assert resp.body == {"avatar_url": avatar}
    # This server's media must exist.
    resp = await alice.put(profile_path(alice.user_id, "avatar_url"), {"avatar_url": "mxc://test.local/Abc_12-x"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    assert (await profile_of(bob, alice.user_id))["avatar_url"] == avatar
    # Media from another server, with a port, is a valid avatar too.
    resp = await alice.put(profile_path(alice.user_id, "avatar_url"), {"avatar_url": "mxc://matrix.org:8448/xyz"})
    assert resp.status == 200
    assert (await profile_of(bob, alice.user_id))["avatar_url"] == "mxc://matrix.org:8448/xyz"


@pytest.mark.parametrize("field, value", [
    ("displayname", None), ("displayname", ""), ("avatar_url", None), ("avatar_url", ""),
])
async def test_null_or_empty_clears_a_field(server: TestServer, field: str, value: Any) -> None:
    alice = await server.register("alice")
    await alice.put(profile_path(alice.user_id, "avatar_url"), {"avatar_url": await uploaded(alice)})
    resp = await alice.put(profile_path(alice.user_id, field), {field: value})
    assert resp.status == 200
    assert field not in await profile_of(alice, alice.user_id)
    resp = await alice.get(profile_path(alice.user_id, field))
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")


async def test_display_name_length_limit(server: TestServer) -> None:
    alice = await server.register("alice")
    assert (await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": "é" * 256})).status == 200
    resp = await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": "é" * 257})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    assert (await profile_of(alice, alice.user_id))["displayname"] == "é" * 256


@pytest.mark.parametrize("value", [
    42, True, ["Alice"], {"name": "Alice"},
    "tab\there", "new\nline", "nul\x00", "bell\x07", "del\x7f", "c1\x85control",
    "admin\u202e", "\u202aembedded", "\u2066isolate\u2069", "x\u202d",
])
async def test_bad_display_names_are_refused(server: TestServer, value: Any) -> None:
    alice = await server.register("alice")
    resp = await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": value})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    assert (await profile_of(alice, alice.user_id))["displayname"] == "alice"


@pytest.mark.parametrize("value", [
    42, ["mxc://test.local/abc"],
    "https://example.com/me.png", "mxc://", "mxc://test.local", "mxc://test.local/",
    "mxc:///abc", "mxc://test.local/../../etc/passwd", "mxc://test.local/a/b", "mxc://test.local/a.b",
    "mxc://bad host/abc", "mxc://test.local\n/abc", "mxc://test.local/abc\n", "MXC://test.local/abc",
    "mxc://test.local/" + "a" * 1000,
])
async def test_bad_avatar_urls_are_refused(server: TestServer, value: Any) -> None:
    alice = await server.register("alice")
    good = await uploaded(alice)
    await alice.put(profile_path(alice.user_id, "avatar_url"), {"avatar_url": good})
    resp = await alice.put(profile_path(alice.user_id, "avatar_url"), {"avatar_url": value})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    assert (await profile_of(alice, alice.user_id))["avatar_url"] == good


@pytest.mark.parametrize("field", ["displayname", "avatar_url"])
async def test_bad_bodies(server: TestServer, field: str) -> None:
    alice = await server.register("alice")
    path = profile_path(alice.user_id, field)
    headers = {"Content-Type": "application/json"}
    for data, errcode in [(b"{nope", "M_NOT_JSON"), (b"", "M_NOT_JSON"), (b'"x"', "M_BAD_JSON"),
                          (b"{}", "M_MISSING_PARAM"), (b'{"other": "x"}', "M_MISSING_PARAM")]:
        resp = await alice.request("PUT", path, data=data, headers=headers)
        assert (resp.status, resp.errcode) == (400, errcode), data
    assert await profile_of(alice, alice.user_id) == {"displayname": "alice"}


@pytest.mark.parametrize("field, value", [("displayname", "Bob is mean"), ("avatar_url", "mxc://test.local/x")])
async def test_cannot_change_another_users_profile(server: TestServer, field: str, value: str) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    resp = await alice.put(profile_path(bob.user_id, field), {field: value})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    assert await profile_of(bob, bob.user_id) == {"displayname": "bob"}
    # Nor a remote user's, nor one that does not exist.
    for user_id in ("@bob:elsewhere.example", "@nobody:test.local"):
        resp = await alice.put(profile_path(user_id, field), {field: value})
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), user_id


async def test_admin_may_change_a_local_profile(start_server: StartServer) -> None:
    server = await start_server({"server": {"admins": ["@root:test.local"]}})
    root = await server.register("root")
    bob = await server.register("bob")
    resp = await root.put(profile_path(bob.user_id, "displayname"), {"displayname": "Robert"})
    assert resp.status == 200
    assert (await profile_of(bob, bob.user_id))["displayname"] == "Robert"
    resp = await root.put(profile_path("@nobody:test.local", "displayname"), {"displayname": "Ghost"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    resp = await root.put(profile_path("@bob:elsewhere.example", "displayname"), {"displayname": "Remote"})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")


@pytest.mark.parametrize("field", ["", "displayname", "avatar_url"])
async def test_unknown_remote_and_malformed_users(server: TestServer, field: str) -> None:
    alice = await server.register("alice")
    for user_id in ("@nobody:test.local", "@alice:elsewhere.example"):
        resp = await alice.get(profile_path(user_id, field))
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), user_id
    for user_id in ("alice", "@alice", "%40alice%3A", "@ali%00ce:test.local"):
        resp = await alice.get("/_matrix/client/v3/" + profile_path(user_id, field))
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), user_id


async def test_malformed_user_id_on_put(server: TestServer) -> None:
    alice = await server.register("alice")
    for user_id in ("alice", "@ali%00ce:test.local"):
        resp = await alice.request("PUT", "/_matrix/client/v3/" + profile_path(user_id, "displayname"),
                                   {"displayname": "x"})
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), user_id


async def test_erased_user_has_no_profile(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    session = (await bob.post("account/deactivate", {"erase": True})).body["session"]
    auth = {"type": "m.login.password", "user": "bob", "password": bob.password, "session": session}
    assert (await bob.post("account/deactivate", {"erase": True, "auth": auth})).status == 200
    for field in ("", "displayname"):
        resp = await alice.get(profile_path(bob.user_id, field))
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")


@pytest.mark.parametrize("method, field", [
    ("GET", ""), ("GET", "displayname"), ("GET", "avatar_url"), ("PUT", "displayname"), ("PUT", "avatar_url"),
])
async def test_endpoints_need_a_valid_token(server: TestServer, method: str, field: str) -> None:
    """Reading needs no token (spec: GET /profile/{userId}); a token sent must be valid."""
    alice = await server.register("alice")
    path = profile_path(alice.user_id, field)
    body = {"displayname": "x", "avatar_url": "mxc://test.local/x"}
    resp = await server.request(method, path, body if method == "PUT" else None)
    if method == "GET":  # (alice has no avatar: 404)
        assert resp.status == (404 if field == "avatar_url" else 200) and resp.errcode != "M_MISSING_TOKEN"
    else:
        assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    resp = await server.request(method, path, body, token="mat_nonsense")
    assert (resp.status, resp.errcode) == (401, "M_UNKNOWN_TOKEN")
    assert await profile_of(alice, alice.user_id) == {"displayname": "alice"}


async def test_a_switch_requires_a_token_to_read_profiles(start_server: StartServer) -> None:
    server = await start_server({"user_directory": {"require_auth_for_profiles": True}})
    alice = await server.register("alice")
    resp = await server.request("GET", profile_path(alice.user_id, ""))
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    assert (await alice.get(profile_path(alice.user_id, ""))).status == 200


async def test_user_directory_follows_accepted_changes_only(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")

    async def found(term: str) -> list[str]:
        resp = await bob.post("user_directory/search", {"search_term": term})
        assert resp.status == 200, resp
        return [r["user_id"] for r in resp.body["results"]]

    assert (await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": "Wonderland"})).status == 200
    assert await found("wonder") == [alice.user_id]
    assert (await bob.put(profile_path(alice.user_id, "displayname"), {"displayname": "Mallory"})).status == 403
    bad = await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": "Queen\u202e"})
    assert bad.status == 400
    assert await found("mallory") == await found("queen") == []
    assert await found("wonder") == [alice.user_id]


async def test_a_new_display_name_reaches_the_rooms(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = (await alice.post("createRoom", {"preset": "public_chat"})).body["room_id"]
    assert (await bob.post(f"join/{room_id}")).status == 200
    assert (await alice.put(profile_path(alice.user_id, "displayname"), {"displayname": "Alice L."})).status == 200
    members = (await bob.get(f"rooms/{room_id}/members")).body["chunk"]
    [own] = [e for e in members if e["state_key"] == alice.user_id]
    assert own["content"] == {"membership": "join", "displayname": "Alice L."}
