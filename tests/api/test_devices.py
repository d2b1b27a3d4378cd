"""Device management over real HTTP: listing, renaming, and deleting with re-authentication."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Response, TestServer, User


def password_auth(user: User, session: str, password: str | None = None) -> dict[str, Any]:
    localpart = user.user_id[1:].split(":")[0]
    return {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
            "password": password or user.password, "session": session}


async def second_device(server: TestServer, user: User, device_id: str, **extra: Any) -> str:
    """Log the user in on another device; return that device's access token."""
    localpart = user.user_id[1:].split(":")[0]
    resp = await server.login(localpart, user.password, device_id=device_id, **extra)
    assert resp.status == 200, resp
    return resp.body["access_token"]


async def device_ids(user: User) -> set[str]:
    resp = await user.get("devices")
    assert resp.status == 200, resp
    return {d["device_id"] for d in resp.body["devices"]}


async def whoami(server: TestServer, token: str) -> Response:
    return await server.request("GET", "account/whoami", token=token)


async def test_list_shows_own_devices_with_last_seen(server: TestServer) -> None:
    alice = await server.register("alice", initial_device_display_name="Alice's laptop")
    await second_device(server, alice, "PHONE")
    resp = await alice.get("devices")
    assert resp.status == 200
    by_id = {d["device_id"]: d for d in resp.body["devices"]}
    assert set(by_id) == {alice.device_id, "PHONE"}
    mine = by_id[alice.device_id]
    assert mine["display_name"] == "Alice's laptop"
    assert mine["last_seen_ip"] == "127.0.0.1"
    assert abs(mine["last_seen_ts"] - server.hs.clock.now_ms()) < 60_000
    # Never used since login and never named: nulls are left out, not sent as null.
    assert by_id["PHONE"] == {"device_id": "PHONE"}


async def test_get_one_device(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await alice.get(f"devices/{alice.device_id}")
    assert resp.status == 200
    assert resp.body["device_id"] == alice.device_id
    assert resp.body["last_seen_ip"] == "127.0.0.1"
    missing = await alice.get("devices/NOSUCHDEVICE")
    assert (missing.status, missing.errcode) == (404, "M_NOT_FOUND")


async def test_users_only_see_and_change_their_own_devices(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    assert await device_ids(bob) == {bob.device_id}
    resp = await bob.get(f"devices/{alice.device_id}")
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    resp = await bob.put(f"devices/{alice.device_id}", {"display_name": "pwned"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    assert "display_name" not in (await alice.get(f"devices/{alice.device_id}")).body

    # The same device ID for two users is two devices.
    await second_device(server, alice, "PHONE", initial_device_display_name="Alice's phone")
    await second_device(server, bob, "PHONE")
    assert (await bob.put("devices/PHONE", {"display_name": "Bob's phone"})).status == 200
    assert (await alice.get("devices/PHONE")).body["display_name"] == "Alice's phone"
    assert (await bob.get("devices/PHONE")).body["display_name"] == "Bob's phone"


async def test_rename_device(server: TestServer) -> None:
    alice = await server.register("alice")
    path = f"devices/{alice.device_id}"
    resp = await alice.put(path, {"display_name": "Work laptop ✨"})
    assert (resp.status, resp.body) == (200, {})
    assert (await alice.get(path)).body["display_name"] == "Work laptop ✨"

    # No display_name (or null): unchanged. An empty name clears it.
    assert (await alice.put(path, {})).status == 200
    assert (await alice.put(path, {"display_name": None})).status == 200
    assert (await alice.get(path)).body["display_name"] == "Work laptop ✨"
    assert (await alice.put(path, {"display_name": ""})).status == 200
    assert "display_name" not in (await alice.get(path)).body


async def test_put_unknown_device_is_404_and_creates_nothing(server: TestServer) -> None:
    alice = await server.register("alice")
    for body in ({"display_name": "new"}, {}):
        resp = await alice.put("devices/NEWDEVICE", body)
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    assert await device_ids(alice) == {alice.device_id}


@pytest.mark.parametrize("display_name, errcode", [
    (42, "M_BAD_JSON"),
    (["a"], "M_BAD_JSON"),
    ("x" * 256, "M_BAD_JSON"),
    ("line\nbreak", "M_BAD_JSON"),
    ("nul\x00", "M_BAD_JSON"),
    ("evil\u202eenohp", "M_BAD_JSON"),
])
async def test_rename_validation(server: TestServer, display_name: Any, errcode: str) -> None:
    alice = await server.register("alice", initial_device_display_name="Original")
    resp = await alice.put(f"devices/{alice.device_id}", {"display_name": display_name})
    assert (resp.status, resp.errcode) == (400, errcode)
    assert (await alice.get(f"devices/{alice.device_id}")).body["display_name"] == "Original"


async def test_rename_accepts_the_longest_name(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await alice.put(f"devices/{alice.device_id}", {"display_name": "x" * 255})
    assert resp.status == 200


async def test_bad_bodies(server: TestServer) -> None:
    alice = await server.register("alice")
    path = f"devices/{alice.device_id}"
    cases = [
        ("PUT", path, b"{not json", "M_NOT_JSON"),
        ("PUT", path, b"", "M_NOT_JSON"),
        ("PUT", path, b"[1, 2]", "M_BAD_JSON"),
        ("DELETE", path, b"{not json", "M_NOT_JSON"),
        ("DELETE", path, b'"auth"', "M_BAD_JSON"),
        ("POST", "delete_devices", b"{not json", "M_NOT_JSON"),
        ("POST", "delete_devices", b"{}", "M_MISSING_PARAM"),
        ("POST", "delete_devices", b'{"devices": "ABC"}', "M_BAD_JSON"),
        ("POST", "delete_devices", b'{"devices": ["ABC", 1]}', "M_BAD_JSON"),
        ("POST", "delete_devices", b'{"devices": [], "auth": "password"}', "M_BAD_JSON"),
    ]
    for method, p, data, errcode in cases:
        resp = await alice.request(method, p, data=data, headers={"Content-Type": "application/json"})
        assert (resp.status, resp.errcode) == (400, errcode), (method, p, data)
    assert await device_ids(alice) == {alice.device_id}


async def test_nul_in_device_id_is_refused(server: TestServer) -> None:
    alice = await server.register("alice")
    for method in ("GET", "PUT", "DELETE"):
        resp = await alice.request(method, "/_matrix/client/v3/devices/A%00B", {})
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), method
    # In a body, NUL is refused before anything else (PostgreSQL cannot store it).
    resp = await alice.post("delete_devices", {"devices": ["A\x00B"]})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    assert await device_ids(alice) == {alice.device_id}


@pytest.mark.parametrize("method, path", [
    ("GET", "devices"),
    ("GET", "devices/ABC"),
    ("PUT", "devices/ABC"),
    ("DELETE", "devices/ABC"),
    ("POST", "delete_devices"),
])
async def test_endpoints_need_a_valid_token(server: TestServer, method: str, path: str) -> None:
    resp = await server.request(method, path, {"devices": [], "display_name": "x"})
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    resp = await server.request(method, path, {"devices": [], "display_name": "x"}, token="mat_nonsense")
    assert (resp.status, resp.errcode) == (401, "M_UNKNOWN_TOKEN")


async def test_delete_device_with_password_round_trip(server: TestServer) -> None:
    alice = await server.register("alice")
    phone_token = await second_device(server, alice, "PHONE")

    first = await alice.delete("devices/PHONE")
    assert first.status == 401
    assert first.body["flows"] == [{"stages": ["m.login.password"]}]
    session = first.body["session"]
    assert "errcode" not in first.body
    assert (await whoami(server, phone_token)).status == 200

    wrong = await alice.delete("devices/PHONE", {"auth": password_auth(alice, session, "not the password")})
    assert (wrong.status, wrong.errcode) == (401, "M_FORBIDDEN")
    assert wrong.body["session"] == session
    assert wrong.body["flows"] == [{"stages": ["m.login.password"]}]
    assert "PHONE" in await device_ids(alice)
    assert (await whoami(server, phone_token)).status == 200

    done = await alice.delete("devices/PHONE", {"auth": password_auth(alice, session)})
    assert (done.status, done.body) == (200, {})
    assert await device_ids(alice) == {alice.device_id}
    gone = await whoami(server, phone_token)
    assert (gone.status, gone.errcode) == (401, "M_UNKNOWN_TOKEN")
    assert (await whoami(server, alice.access_token)).status == 200

    # The finished session cannot authorise another deletion, even of the same device ID.
    new_phone_token = await second_device(server, alice, "PHONE")
    reused = await alice.delete("devices/PHONE", {"auth": password_auth(alice, session)})
    assert reused.status == 400
    assert (await whoami(server, new_phone_token)).status == 200


async def test_another_users_password_does_not_authorise(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    await second_device(server, alice, "PHONE")
    session = (await alice.delete("devices/PHONE")).body["session"]
    resp = await alice.delete("devices/PHONE", {"auth": password_auth(bob, session)})
    assert (resp.status, resp.errcode) == (401, "M_FORBIDDEN")
    assert "PHONE" in await device_ids(alice)


async def test_auth_session_is_bound_to_the_device(server: TestServer) -> None:
    alice = await server.register("alice")
    await second_device(server, alice, "PHONE")
    await second_device(server, alice, "TABLET")
    session = (await alice.delete("devices/PHONE")).body["session"]
    resp = await alice.delete("devices/TABLET", {"auth": password_auth(alice, session)})
    assert resp.status == 400
    assert {"PHONE", "TABLET"} <= await device_ids(alice)


async def test_delete_own_current_device_logs_it_out(server: TestServer) -> None:
    alice = await server.register("alice")
    session = (await alice.delete(f"devices/{alice.device_id}", {})).body["session"]
    done = await alice.delete(f"devices/{alice.device_id}", {"auth": password_auth(alice, session)})
    assert done.status == 200
    assert (await alice.get("devices")).errcode == "M_UNKNOWN_TOKEN"


async def test_delete_unknown_device_succeeds_after_auth(server: TestServer) -> None:
    # Spec: 200 when "the device was successfully removed, or had been removed previously".
    alice = await server.register("alice")
    first = await alice.delete("devices/NOSUCHDEVICE")
    assert first.status == 401
    done = await alice.delete("devices/NOSUCHDEVICE", {"auth": password_auth(alice, first.body["session"])})
    assert (done.status, done.body) == (200, {})
    assert await device_ids(alice) == {alice.device_id}


async def test_delete_devices_in_bulk(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    tokens = {d: await second_device(server, alice, d) for d in ("PHONE", "TABLET", "TV")}
    bobs_phone = await second_device(server, bob, "PHONE")
    body = {"devices": ["PHONE", "TABLET", "NOSUCHDEVICE"]}

    first = await alice.post("delete_devices", body)
    assert first.status == 401
    assert first.body["flows"] == [{"stages": ["m.login.password"]}]
    assert await device_ids(alice) == {alice.device_id, "PHONE", "TABLET", "TV"}

    session = first.body["session"]
    wrong = await alice.post("delete_devices", {**body, "auth": password_auth(alice, session, "wrong password")})
    assert (wrong.status, wrong.errcode, wrong.body["session"]) == (401, "M_FORBIDDEN", session)
    assert await device_ids(alice) == {alice.device_id, "PHONE", "TABLET", "TV"}

    done = await alice.post("delete_devices", {**body, "auth": password_auth(alice, session)})
    assert (done.status, done.body) == (200, {})
    assert await device_ids(alice) == {alice.device_id, "TV"}
    for device, token in tokens.items():
        expected = 200 if device == "TV" else 401
        assert (await whoami(server, token)).status == expected, device
    # Bob's device of the same ID is not Alice's to delete.
    assert (await whoami(server, bobs_phone)).status == 200
    assert await device_ids(bob) == {bob.device_id, "PHONE"}


async def test_delete_devices_validates_before_auth(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await alice.post("delete_devices", {"auth": {"type": "m.login.password"}})
    assert (resp.status, resp.errcode) == (400, "M_MISSING_PARAM")
