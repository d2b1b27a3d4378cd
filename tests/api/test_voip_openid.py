"""The small endpoints Element-class clients call at start-up: TURN servers, third-party
protocols, third-party identifiers and OpenID tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac

from homeserver.users import openid
from tests.conftest import StartServer
from tests.helpers import TestServer


async def test_no_turn_server_configured_is_an_empty_object(server: TestServer) -> None:
    alice = await server.register("alice")
    assert (await alice.get("voip/turnServer")).body == {}
    assert (await server.request("GET", "voip/turnServer")).errcode == "M_MISSING_TOKEN"


async def test_turn_credentials_are_those_coturn_checks_with_its_shared_secret(start_server: StartServer) -> None:
    uris = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    server = await start_server({"voip": {"turn_uris": uris, "turn_shared_secret": "s3cret",
                                          "turn_user_lifetime_ms": 3_600_000}})
    alice = await server.register("alice")
    body = (await alice.get("voip/turnServer")).body
    assert body["uris"] == uris and body["ttl"] == 3600
    expiry, _, user = body["username"].partition(":")
    assert user == alice.user_id
    assert abs(int(expiry) - (server.hs.clock.now_ms() // 1000 + 3600)) <= 2
    expected = base64.b64encode(hmac.new(b"s3cret", body["username"].encode(), hashlib.sha1).digest()).decode()
    assert body["password"] == expected


async def test_thirdparty_protocols_and_threepids_are_empty(server: TestServer) -> None:
    alice = await server.register("alice")
    assert (await alice.get("thirdparty/protocols")).body == {}
    assert (await alice.get("account/3pid")).body == {"threepids": []}


async def test_openid_tokens_name_their_user(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    resp = await alice.post(f"user/{alice.user_id}/openid/request_token", {})
    assert resp.status == 200, resp
    assert resp.body["token_type"] == "Bearer" and resp.body["matrix_server_name"] == "test.local"
    assert resp.body["expires_in"] == 3600 and resp.body["access_token"]
    assert await openid.userinfo(server.hs, resp.body["access_token"]) == alice.user_id
    assert await openid.userinfo(server.hs, "oid_forged") is None
    other = await bob.post(f"user/{alice.user_id}/openid/request_token", {})
    assert (other.status, other.errcode) == (403, "M_FORBIDDEN")
