"""Registration over real HTTP: UIA stages, username rules, password policy, closed sign-up."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.helpers import TestServer

REG = "register"


async def test_register_with_dummy_auth_round_trip(server: TestServer) -> None:
    body = {"username": "alice", "password": "correct horse battery"}
    first = await server.request("POST", REG, body)
    assert first.status == 401
    assert first.body["flows"] == [{"stages": ["m.login.dummy"]}]
    session = first.body["session"]

    done = await server.request("POST", REG, {**body, "auth": {"type": "m.login.dummy", "session": session}})
    assert done.status == 200
    assert done.body["user_id"] == "@alice:test.local"
    assert done.body["access_token"] and done.body["device_id"]

    whoami = await server.request("GET", "account/whoami", token=done.body["access_token"])
    assert whoami.body["user_id"] == "@alice:test.local"
    assert whoami.body["device_id"] == done.body["device_id"]


async def test_username_is_downcased_and_grammar_enforced(server: TestServer) -> None:
    user = await server.register("Bob")
    assert user.user_id == "@bob:test.local"
    for bad in ["bob smith", "bøb", "bob:evil", "a" * 300]:
        resp = await server.request("POST", REG, {"username": bad, "password": "correct horse battery",
                                                  "auth": {"type": "m.login.dummy"}})
        assert (resp.status, resp.errcode) == (400, "M_INVALID_USERNAME"), bad


async def test_taken_username_is_refused_before_auth(server: TestServer) -> None:
    await server.register("carol")
    resp = await server.request("POST", REG, {"username": "carol", "password": "correct horse battery"})
    assert (resp.status, resp.errcode) == (400, "M_USER_IN_USE")
    avail = await server.request("GET", "register/available", params={"username": "carol"})
    assert avail.errcode == "M_USER_IN_USE"
    avail = await server.request("GET", "register/available", params={"username": "dave"})
    assert avail.body == {"available": True}
    avail = await server.request("GET", "register/available", params={"username": "no spaces"})
    assert avail.errcode == "M_INVALID_USERNAME"


async def test_weak_password_is_refused(start_server: StartServer) -> None:
    server = await start_server({"registration": {"password_policy": {"min_length": 10, "require_digit": True}}})
    resp = await server.request("POST", REG, {"username": "erin", "password": "short",
                                              "auth": {"type": "m.login.dummy"}})
    assert (resp.status, resp.errcode) == (400, "M_WEAK_PASSWORD")
    resp = await server.request("POST", REG, {"username": "erin", "password": "longenoughbutnodigits",
                                              "auth": {"type": "m.login.dummy"}})
    assert resp.errcode == "M_WEAK_PASSWORD"
    avail = await server.request("GET", "register/available", params={"username": "erin"})
    assert avail.body == {"available": True}, "a refused registration must not create the account"


async def test_inhibit_login_and_device_fields(server: TestServer) -> None:
    resp = await server.request("POST", REG, {"username": "frank", "password": "correct horse battery",
                                              "inhibit_login": True, "auth": {"type": "m.login.dummy"}})
    assert resp.status == 200
    assert resp.body["user_id"] == "@frank:test.local"
    assert "access_token" not in resp.body and "device_id" not in resp.body

    resp = await server.request("POST", REG, {"username": "gina", "password": "correct horse battery",
                                              "device_id": "PHONE", "initial_device_display_name": "Gina's phone",
                                              "auth": {"type": "m.login.dummy"}})
    assert resp.body["device_id"] == "PHONE"
    device = await server.hs.db.pool.fetchrow("SELECT display_name FROM devices WHERE device_id = 'PHONE'")
    assert device["display_name"] == "Gina's phone"


async def test_closed_registration(start_server: StartServer) -> None:
    server = await start_server({"registration": {"enabled": False}})
    resp = await server.request("POST", REG, {"username": "hal", "password": "correct horse battery",
                                              "auth": {"type": "m.login.dummy"}})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")


async def test_guest_registration_is_refused(server: TestServer) -> None:
    resp = await server.request("POST", REG, {}, params={"kind": "guest"})
    assert (resp.status, resp.errcode) == (403, "M_GUEST_ACCESS_FORBIDDEN")


async def test_registration_token_and_terms_stages(start_server: StartServer) -> None:
    server = await start_server({"registration": {
        "require_token": True, "tokens": ["letmein"],
        "terms": {"version": "2.0", "policies": {"privacy_policy": "https://example.org/privacy"}},
    }})
    body = {"username": "ivy", "password": "correct horse battery"}
    first = await server.request("POST", REG, body)
    assert first.body["flows"] == [{"stages": ["m.login.registration_token", "m.login.terms"]}]
    policy = first.body["params"]["m.login.terms"]["policies"]["privacy_policy"]
    assert policy["version"] == "2.0" and policy["en"]["url"] == "https://example.org/privacy"
    session = first.body["session"]

    wrong = await server.request("POST", REG, {**body, "auth": {"type": "m.login.registration_token",
                                                                "token": "nope", "session": session}})
    assert (wrong.status, wrong.errcode) == (401, "M_FORBIDDEN")
    assert "completed" not in wrong.body

    out_of_order = await server.request("POST", REG, {**body, "auth": {"type": "m.login.terms", "session": session}})
    assert out_of_order.status == 401 and "completed" not in out_of_order.body

    token = await server.request("POST", REG, {**body, "auth": {"type": "m.login.registration_token",
                                                                "token": "letmein", "session": session}})
    assert token.status == 401 and token.body["completed"] == ["m.login.registration_token"]

    done = await server.request("POST", REG, {**body, "auth": {"type": "m.login.terms", "session": session}})
    assert done.status == 200 and done.body["user_id"] == "@ivy:test.local"
    consent = await server.hs.db.pool.fetchval("SELECT consent_version FROM users WHERE localpart = 'ivy'")
    assert consent == "2.0"

    validity = await server.request("GET", "/_matrix/client/v1/register/m.login.registration_token/validity",
                                    params={"token": "letmein"})
    assert validity.body == {"valid": True}


async def test_uia_session_cannot_be_reused_or_moved(server: TestServer) -> None:
    first = await server.request("POST", REG, {"username": "jack", "password": "correct horse battery"})
    session = first.body["session"]
    auth = {"type": "m.login.dummy", "session": session}
    done = await server.request("POST", REG, {"username": "jack", "password": "correct horse battery", "auth": auth})
    assert done.status == 200
    again = await server.request("POST", REG, {"username": "kate", "password": "correct horse battery", "auth": auth})
    assert again.status == 400
    unknown = await server.request("POST", REG, {"username": "kate", "password": "correct horse battery",
                                                 "auth": {"type": "m.login.dummy", "session": "made-up"}})
    assert unknown.status == 400


async def test_bad_input(server: TestServer) -> None:
    resp = await server.request("POST", REG, data=b"{not json", headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (400, "M_NOT_JSON")
    resp = await server.request("POST", REG, [1, 2])
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    resp = await server.request("POST", REG, {"username": 5, "password": "correct horse battery"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    resp = await server.request("POST", REG, {"username": "lee", "password": "correct horse battery", "auth": "x"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    resp = await server.request("POST", REG, {"username": "lee", "auth": {"type": "m.login.dummy"}})
    assert (resp.status, resp.errcode) == (400, "M_MISSING_PARAM")
    resp = await server.request("POST", REG, data=b"{" + b'"a":"' + b"x" * 2_000_000 + b'"}',
                                headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (413, "M_TOO_LARGE")
    count = await server.hs.db.pool.fetchval("SELECT count(*) FROM users")
    assert count == 0


async def test_registration_is_rate_limited(start_server: StartServer) -> None:
    server = await start_server({"rate_limits": {"enabled": True, "registration": {"per_second": 0.1, "burst": 2}}})
    statuses = []
    for i in range(3):
        resp = await server.request("GET", "register/available", params={"username": f"x{i}"})
        statuses.append(resp.status)
    assert statuses[:2] == [200, 200]
    assert statuses[2] == 429 and resp.body["retry_after_ms"] > 0
