"""Shared-secret registration, as Synapse's register_new_matrix_user speaks it."""

from __future__ import annotations

from homeserver.users.shared_secret import registration_mac
from tests.conftest import StartServer

PATH = "/_synapse/admin/v1/register"
SECRET = "s3cret-for-tests"


async def test_shared_secret_registration(start_server: StartServer) -> None:
    server = await start_server({"registration": {"shared_secret": SECRET, "enabled": False}})
    nonce = (await server.request("GET", PATH)).body["nonce"]
    body = {"nonce": nonce, "username": "admin", "password": "an admin password", "admin": True,
            "mac": registration_mac(SECRET, nonce, "admin", "an admin password", True, None)}
    resp = await server.request("POST", PATH, body)
    assert resp.status == 200, resp
    assert resp.body["user_id"] == "@admin:test.local"
    assert await server.hs.db.pool.fetchval("SELECT is_admin FROM users WHERE localpart = 'admin'") is True
    whoami = await server.request("GET", "account/whoami", token=resp.body["access_token"])
    assert whoami.body["user_id"] == "@admin:test.local"

    replay = await server.request("POST", PATH, body)
    assert replay.status == 400, "a nonce is single-use"


async def test_wrong_mac_creates_nothing(start_server: StartServer) -> None:
    server = await start_server({"registration": {"shared_secret": SECRET}})
    nonce = (await server.request("GET", PATH)).body["nonce"]
    body = {"nonce": nonce, "username": "mallory", "password": "an admin password", "admin": True,
            "mac": registration_mac("wrong secret", nonce, "mallory", "an admin password", True, None)}
    resp = await server.request("POST", PATH, body)
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    assert await server.hs.db.pool.fetchval("SELECT count(*) FROM users") == 0


async def test_disabled_without_a_secret(server) -> None:  # type: ignore[no-untyped-def]
    resp = await server.request("GET", PATH)
    assert resp.status == 400
