"""Login, sessions, refresh, logout, password change and deactivation over real HTTP."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import StartServer
from tests.helpers import TestServer


async def test_login_by_localpart_full_id_and_legacy_user_field(server: TestServer) -> None:
    alice = await server.register("alice")
    flows = await server.request("GET", "login")
    assert {"type": "m.login.password"} in flows.body["flows"]

    by_localpart = await server.login("alice", alice.password)
    assert by_localpart.status == 200 and by_localpart.body["user_id"] == alice.user_id
    by_full_id = await server.login("@alice:test.local", alice.password)
    assert by_full_id.status == 200
    by_upper = await server.login("ALICE", alice.password)
    assert by_upper.status == 200
    legacy = await server.request("POST", "login", {"type": "m.login.password", "user": "alice",
                                                     "password": alice.password})
    assert legacy.status == 200
    assert len({by_localpart.body["device_id"], by_full_id.body["device_id"], legacy.body["device_id"]}) == 3


async def test_wrong_password_unknown_user_and_other_server(server: TestServer) -> None:
    await server.register("bob")
    for user in ["bob", "nobody", "@bob:elsewhere.example"]:
        resp = await server.login(user, "wrong password!")
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), user


async def test_login_reuses_device_id(server: TestServer) -> None:
    carol = await server.register("carol")
    first = await server.login("carol", carol.password, device_id="LAPTOP", initial_device_display_name="Laptop")
    second = await server.login("carol", carol.password, device_id="LAPTOP")
    assert first.body["device_id"] == second.body["device_id"] == "LAPTOP"
    for token in (first.body["access_token"], second.body["access_token"]):
        assert (await server.request("GET", "account/whoami", token=token)).status == 200


async def test_tokens_are_stored_only_as_hashes(server: TestServer) -> None:
    dave = await server.register("dave")
    stored = await server.hs.db.pool.fetch("SELECT token_hash FROM access_tokens")
    assert stored and all(dave.access_token.encode() not in bytes(r["token_hash"]) for r in stored)
    password_hash = await server.hs.db.pool.fetchval("SELECT password_hash FROM users")
    assert password_hash.startswith("$argon2id$")


async def test_logout_and_logout_all(server: TestServer) -> None:
    erin = await server.register("erin")
    other = await server.login("erin", erin.password)
    assert (await erin.post("logout")).status == 200
    gone = await erin.get("account/whoami")
    assert (gone.status, gone.errcode) == (401, "M_UNKNOWN_TOKEN")
    token = other.body["access_token"]
    assert (await server.request("GET", "account/whoami", token=token)).status == 200
    third = await server.login("erin", erin.password)
    assert (await server.request("POST", "logout/all", {}, token=token)).status == 200
    for t in (token, third.body["access_token"]):
        assert (await server.request("GET", "account/whoami", token=t)).errcode == "M_UNKNOWN_TOKEN"


async def test_refresh_rotation_and_soft_logout(server: TestServer) -> None:
    frank = await server.register("frank")
    login = await server.login("frank", frank.password, refresh_token=True)
    assert login.body["expires_in_ms"] == 300_000
    access, refresh = login.body["access_token"], login.body["refresh_token"]
    assert (await server.request("GET", "account/whoami", token=access)).status == 200

    server.hs.clock.advance(301_000)
    expired = await server.request("GET", "account/whoami", token=access)
    assert (expired.status, expired.errcode) == (401, "M_UNKNOWN_TOKEN")
    assert expired.body["soft_logout"] is True

    new = await server.request("POST", "refresh", {"refresh_token": refresh})
    assert new.status == 200 and new.body["refresh_token"] != refresh
    assert (await server.request("GET", "account/whoami", token=new.body["access_token"])).status == 200
    # Once the new access token is used the old refresh token is revoked.
    reused = await server.request("POST", "refresh", {"refresh_token": refresh})
    assert (reused.status, reused.errcode) == (401, "M_UNKNOWN_TOKEN")
    bad = await server.request("POST", "refresh", {"refresh_token": 7})
    assert bad.errcode == "M_BAD_JSON"


async def test_a_replayed_refresh_token_ends_the_whole_session(server: TestServer) -> None:
    """Reuse of a rotated refresh token is theft: the tokens issued after it stop working
    too (OAuth 2.0 Security BCP, refresh token rotation), whoever presents it."""
    olga = await server.register("olga")
    login = await server.login("olga", olga.password, refresh_token=True)
    stolen = login.body["refresh_token"]
    second = await server.request("POST", "refresh", {"refresh_token": stolen})
    assert (await server.request("GET", "account/whoami", token=second.body["access_token"])).status == 200
    third = await server.request("POST", "refresh", {"refresh_token": second.body["refresh_token"]})
    assert (await server.request("GET", "account/whoami", token=third.body["access_token"])).status == 200
    unrelated = await server.login("olga", olga.password, refresh_token=True)

    replay = await server.request("POST", "refresh", {"refresh_token": stolen})
    assert (replay.status, replay.errcode) == (401, "M_UNKNOWN_TOKEN")
    ended = await server.request("GET", "account/whoami", token=third.body["access_token"])
    assert (ended.status, ended.errcode) == (401, "M_UNKNOWN_TOKEN")
    again = await server.request("POST", "refresh", {"refresh_token": third.body["refresh_token"]})
    assert again.errcode == "M_UNKNOWN_TOKEN"
    # Another login of the same user is another family: untouched.
    assert (await server.request("GET", "account/whoami", token=unrelated.body["access_token"])).status == 200
    assert (await server.request("POST", "refresh", {"refresh_token": unrelated.body["refresh_token"]})).status == 200


async def test_a_refresh_retried_before_its_tokens_are_used_is_no_replay(server: TestServer) -> None:
    """The spec keeps the old refresh token valid until the new tokens are used: a client
    that lost the answer may refresh again, and keeps its session."""
    paul = await server.register("paul")
    login = await server.login("paul", paul.password, refresh_token=True)
    lost = await server.request("POST", "refresh", {"refresh_token": login.body["refresh_token"]})
    retried = await server.request("POST", "refresh", {"refresh_token": login.body["refresh_token"]})
    assert lost.status == retried.status == 200
    assert (await server.request("GET", "account/whoami", token=retried.body["access_token"])).status == 200
    assert (await server.request("POST", "refresh", {"refresh_token": retried.body["refresh_token"]})).status == 200


async def test_repeated_failures_lock_the_account_out(start_server: StartServer) -> None:
    server = await start_server({"auth": {"lockout_after_failures": 3, "lockout_ms": 60_000}})
    gina = await server.register("gina")
    for _ in range(3):
        assert (await server.login("gina", "wrong password!")).errcode == "M_FORBIDDEN"
    locked = await server.login("gina", gina.password)
    assert (locked.status, locked.errcode) == (429, "M_LIMIT_EXCEEDED")
    assert 0 < locked.body["retry_after_ms"] <= 60_000
    server.hs.clock.advance(61_000)
    assert (await server.login("gina", gina.password)).status == 200


async def _login_from(server: TestServer, address: str, localpart: str, password: str) -> int:
    """A login from another loopback address (127.0.0.0/8 is all loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": password}
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(server.url + "/_matrix/client/v3/login", json=body) as resp:
            return resp.status


async def test_guesses_sent_at_once_count_before_they_are_checked(start_server: StartServer) -> None:
    """30 logins at once from 30 addresses, 29 wrong and 1 right: at most the lockout's
    five are checked, the rest are refused before their password is looked at."""
    server = await start_server()
    kim = await server.register("kim")
    passwords = ["wrong password!"] * 29 + [kim.password]
    codes = await asyncio.gather(*(
        _login_from(server, f"127.0.0.{10 + i}", "kim", password) for i, password in enumerate(passwords)
    ))
    assert codes.count(429) >= 25, codes
    assert set(codes) <= {200, 403, 429}
    if 200 not in codes:
        assert (await server.login("kim", kim.password)).status == 429, "the guesses locked the account"


async def test_lockout_is_shared_by_every_server_process(start_server: StartServer) -> None:
    """Two servers on one database: failures on one lock the account out on the other."""
    first = await start_server({"auth": {"lockout_after_failures": 3}})
    second = await start_server({"auth": {"lockout_after_failures": 3}})
    lea = await first.register("lea")
    codes = await asyncio.gather(*(server.login("lea", "wrong password!") for server in (first, second, first)))
    assert codes and [c.status for c in codes] == [403, 403, 403]
    assert (await second.login("lea", lea.password)).status == 429
    assert (await first.login("lea", lea.password)).status == 429


async def test_a_success_gives_the_address_its_attempt_back(start_server: StartServer) -> None:
    """Someone who mistypes a few times and then logs in is not locked out afterwards."""
    server = await start_server({"auth": {"lockout_after_failures": 3}})
    max_ = await server.register("max")
    for _ in range(2):
        assert (await server.login("max", "wrong password!")).status == 403
    for _ in range(3):
        assert (await server.login("max", max_.password)).status == 200


async def test_login_rate_limit(start_server: StartServer) -> None:
    server = await start_server({"rate_limits": {"enabled": True, "login": {"per_second": 0.1, "burst": 2}}})
    codes = [(await server.login("nobody", "x" * 10)).status for _ in range(3)]
    assert codes == [403, 403, 429]


async def test_change_password_with_uia(server: TestServer) -> None:
    hal = await server.register("hal")
    other = await server.login("hal", hal.password)
    body = {"new_password": "a brand new password", "logout_devices": True}
    first = await hal.post("account/password", body)
    assert first.status == 401 and first.body["flows"] == [{"stages": ["m.login.password"]}]
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "hal"},
            "session": first.body["session"]}
    wrong = await hal.post("account/password", {**body, "auth": {**auth, "password": "not it at all"}})
    assert (wrong.status, wrong.errcode) == (401, "M_FORBIDDEN")
    done = await hal.post("account/password", {**body, "auth": {**auth, "password": hal.password}})
    assert done.status == 200
    assert (await server.login("hal", hal.password)).errcode == "M_FORBIDDEN"
    assert (await server.login("hal", "a brand new password")).status == 200
    assert (await hal.get("account/whoami")).status == 200, "the current device stays logged in"
    other_whoami = await server.request("GET", "account/whoami", token=other.body["access_token"])
    assert other_whoami.errcode == "M_UNKNOWN_TOKEN"


async def test_password_stage_must_name_the_requester(server: TestServer) -> None:
    ivy = await server.register("ivy")
    jack = await server.register("jack")
    first = await ivy.post("account/password", {"new_password": "whatever works here"})
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "jack"},
            "password": jack.password, "session": first.body["session"]}
    resp = await ivy.post("account/password", {"new_password": "whatever works here", "auth": auth})
    assert (resp.status, resp.errcode) == (401, "M_FORBIDDEN")


async def test_deactivate_forever(server: TestServer) -> None:
    kate = await server.register("kate")
    first = await kate.post("account/deactivate", {"erase": True})
    auth = {"type": "m.login.password", "user": "kate", "password": kate.password,
            "session": first.body["session"]}
    done = await kate.post("account/deactivate", {"erase": True, "auth": auth})
    assert done.status == 200
    assert (await kate.get("account/whoami")).errcode == "M_UNKNOWN_TOKEN"
    login = await server.login("kate", kate.password)
    assert (login.status, login.errcode) == (403, "M_USER_DEACTIVATED")
    again = await server.request("POST", "register", {"username": "kate", "password": "correct horse battery",
                                                      "auth": {"type": "m.login.dummy"}})
    assert again.errcode == "M_USER_IN_USE", "a deactivated localpart is never reused"
    assert await server.hs.db.pool.fetchval("SELECT count(*) FROM profiles WHERE user_id = $1", kate.user_id) == 0


async def test_login_bad_input(server: TestServer) -> None:
    cases = [
        ({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "x"}}, 400, "M_MISSING_PARAM"),
        ({"type": "m.login.password", "password": "x"}, 400, "M_MISSING_PARAM"),
        ({"type": "m.login.password", "identifier": "x", "password": "x"}, 400, "M_BAD_JSON"),
        ({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": 3}, "password": "x"},
         400, "M_BAD_JSON"),
        ({"type": "m.login.bogus"}, 400, "M_UNKNOWN"),
        ({"type": 12}, 400, "M_BAD_JSON"),
    ]
    for body, status, errcode in cases:
        resp = await server.request("POST", "login", body)
        assert (resp.status, resp.errcode) == (status, errcode), body
    resp = await server.request("POST", "login", data=b"nope", headers={"Content-Type": "application/json"})
    assert resp.errcode == "M_NOT_JSON"
    resp = await server.request("GET", "account/whoami", headers={"Authorization": "Basic abc"})
    assert resp.errcode == "M_MISSING_TOKEN"


async def test_a_uia_session_belongs_to_the_user_who_started_it(server: TestServer) -> None:
    alice = await server.register("alice")
    mallory = await server.register("mallory")
    first = await alice.post("account/password", {"new_password": "alice's new password"})
    session = first.body["session"]
    auth = {"type": "m.login.password", "user": "alice", "password": alice.password, "session": session}
    assert (await alice.post("account/password", {"new_password": "alice's new password", "auth": auth})).status == 200
    stolen = await mallory.post("account/deactivate", {"auth": {"session": session}})
    assert stolen.status == 400
    assert (await mallory.get("account/whoami")).status == 200


async def test_nul_characters_are_refused_not_crashing(server: TestServer) -> None:
    resp = await server.request("POST", "login", {"type": "m.login.password", "user": "al\u0000ice", "password": "x"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    alice = await server.register("alice")
    resp = await alice.get("profile/%40al%00ice%3Atest.local")
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")


async def test_a_refreshed_token_used_by_many_requests_at_once_never_answers_500(server: TestServer) -> None:
    """The web client's pattern: right after a refresh, several sends, typing and the
    next refresh race each other with the new tokens."""
    import asyncio

    gina = await server.register("gina")
    login = await server.login("gina", gina.password, refresh_token=True)
    refresh = login.body["refresh_token"]
    room_id = (await server.request("POST", "createRoom", {}, token=login.body["access_token"])).body["room_id"]
    for round_ in range(10):
        new = await server.request("POST", "refresh", {"refresh_token": refresh})
        assert new.status == 200, new
        access, refresh = new.body["access_token"], new.body["refresh_token"]
        results = await asyncio.gather(
            *(server.request("PUT", f"rooms/{room_id}/send/m.room.message/r{round_}m{i}",
                             {"msgtype": "m.text", "body": "hi"}, token=access) for i in range(6)),
            *(server.request("PUT", f"rooms/{room_id}/typing/{gina.user_id}", {"typing": True}, token=access)
              for _ in range(2)),
        )
        assert all(r.status == 200 for r in results), [r for r in results if r.status != 200]
