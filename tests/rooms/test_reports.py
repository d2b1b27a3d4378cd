"""Reporting events, rooms and users, over real HTTP; reports land in the admins' table."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartServer
from tests.helpers import TestServer
from tests.rooms.test_rooms import create_room, send_text


async def stored_reports(server: TestServer) -> list[dict[str, Any]]:
    rows = await server.hs.db.pool.fetch(
        "SELECT reporter, room_id, event_id, user_id, reason, score, received_ts, resolved FROM reports ORDER BY id")
    return [dict(r) for r in rows]


def without_time(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for report in reports:
        assert report.pop("received_ts") > 0
        assert report.pop("resolved") is False
    return reports


async def test_event_report_is_stored(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    assert (await bob.post(f"join/{room_id}")).status == 200
    event_id = await send_text(alice, room_id, "something nasty")

    resp = await bob.post(f"rooms/{room_id}/report/{event_id}", {"reason": "this makes me sad", "score": -100})
    assert (resp.status, resp.body) == (200, {})
    resp = await bob.post(f"rooms/{room_id}/report/{event_id}", {})  # reason and score are optional
    assert resp.status == 200
    # The r0 path older clients use.
    resp = await bob.request("POST", f"/_matrix/client/r0/rooms/{room_id}/report/{event_id}", {"reason": ""})
    assert resp.status == 200
    assert without_time(await stored_reports(server)) == [
        {"reporter": bob.user_id, "room_id": room_id, "event_id": event_id, "user_id": None,
         "reason": "this makes me sad", "score": -100},
        {"reporter": bob.user_id, "room_id": room_id, "event_id": event_id, "user_id": None,
         "reason": None, "score": None},
        {"reporter": bob.user_id, "room_id": room_id, "event_id": event_id, "user_id": None,
         "reason": "", "score": None},
    ]


async def test_event_report_refused_for_events_the_reporter_cannot_see(server: TestServer) -> None:
    alice, bob, eve = [await server.register(n) for n in ("alice", "bob", "eve")]
    room_id = await create_room(alice, preset="public_chat")
    await alice.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": "joined"})
    before_bob = await send_text(alice, room_id, "said before bob joined")
    other_room = await create_room(alice, preset="public_chat")
    elsewhere = await send_text(alice, other_room, "said elsewhere")
    assert (await bob.post(f"join/{room_id}")).status == 200
    visible = await send_text(alice, room_id, "said while bob is here")

    cases = [
        (bob, room_id, before_bob),  # history not visible to him
        (bob, room_id, elsewhere),  # an event of another room
        (bob, room_id, "$doesnotexist"),
        (eve, room_id, visible),  # not joined (the room is public, eve could join: must join first)
        (bob, "!nowhere:test.local", visible),
    ]
    for user, in_room, event_id in cases:
        resp = await user.post(f"rooms/{in_room}/report/{event_id}", {"reason": "bad"})
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), (user.user_id, event_id, resp)

    assert (await bob.post(f"rooms/{room_id}/report/{visible}", {"reason": "bad"})).status == 200
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    resp = await bob.post(f"rooms/{room_id}/report/{visible}", {"reason": "bad"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), "reporters must be joined now"
    assert [r["event_id"] for r in await stored_reports(server)] == [visible]


async def test_event_report_bad_input_writes_nothing(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    event_id = await send_text(alice, room_id, "hello")
    cases: list[tuple[str, Any, int, str]] = [
        (f"rooms/{room_id}/report/{event_id}", {"score": 1}, 400, "M_INVALID_PARAM"),
        (f"rooms/{room_id}/report/{event_id}", {"score": -101}, 400, "M_INVALID_PARAM"),
        (f"rooms/{room_id}/report/{event_id}", {"score": "-5"}, 400, "M_BAD_JSON"),
        (f"rooms/{room_id}/report/{event_id}", {"score": True}, 400, "M_BAD_JSON"),
        (f"rooms/{room_id}/report/{event_id}", {"reason": 5}, 400, "M_BAD_JSON"),
        (f"rooms/{room_id}/report/{event_id}", {"reason": "x" * 1001}, 400, "M_BAD_JSON"),
        (f"rooms/{room_id}/report/{event_id}", ["reason"], 400, "M_BAD_JSON"),
        (f"rooms/{room_id}/report/{event_id}", {"reason": "nul \u0000"}, 400, "M_BAD_JSON"),
        (f"rooms/{room_id}/report/not-an-event", {}, 400, "M_INVALID_PARAM"),
        (f"rooms/{room_id}/report/$nul%00", {}, 400, "M_INVALID_PARAM"),
        ("rooms/!nul%00:test.local/report", {"reason": "x"}, 400, "M_INVALID_PARAM"),
        (f"rooms/not-a-room/report/{event_id}", {}, 400, "M_INVALID_PARAM"),
    ]
    for path, body, status, errcode in cases:
        resp = await alice.post(path, body)
        assert (resp.status, resp.errcode) == (status, errcode), (body, resp)
    resp = await alice.post(f"rooms/{room_id}/report/{event_id}", data=b"{")
    assert resp.errcode == "M_NOT_JSON"
    resp = await server.request("POST", f"rooms/{room_id}/report/{event_id}", {})
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    assert await stored_reports(server) == []
    # The longest reason allowed is accepted.
    assert (await alice.post(f"rooms/{room_id}/report/{event_id}", {"reason": "x" * 1000})).status == 200


async def test_room_report(server: TestServer) -> None:
    alice, eve = await server.register("alice"), await server.register("eve")
    room_id = await create_room(alice, preset="private_chat")
    # Reporters need not be in the room (spec v1.13): eve may have seen it in an invite.
    resp = await eve.post(f"rooms/{room_id}/report", {"reason": "spam room"})
    assert (resp.status, resp.body) == (200, {})
    assert (await eve.post(f"rooms/{room_id}/report", {"reason": ""})).status == 200  # may be blank

    for body, errcode in [({}, "M_MISSING_PARAM"), ({"reason": None}, "M_MISSING_PARAM"),
                          ({"reason": 1}, "M_BAD_JSON"), ({"reason": "x" * 1001}, "M_BAD_JSON")]:
        resp = await eve.post(f"rooms/{room_id}/report", body)
        assert (resp.status, resp.errcode) == (400, errcode), (body, resp)
    resp = await eve.post("rooms/!nowhere:test.local/report", {"reason": "spam"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    assert without_time(await stored_reports(server)) == [
        {"reporter": eve.user_id, "room_id": room_id, "event_id": None, "user_id": None,
         "reason": "spam room", "score": None},
        {"reporter": eve.user_id, "room_id": room_id, "event_id": None, "user_id": None,
         "reason": "", "score": None},
    ]


async def test_user_report_does_not_reveal_whether_the_user_exists(server: TestServer) -> None:
    alice, mallory = await server.register("alice"), await server.register("mallory")
    for target in (mallory.user_id, "@nobody:test.local", "@someone:elsewhere.example"):
        resp = await alice.post(f"users/{target}/report", {"reason": "harassment"})
        assert (resp.status, resp.body) == (200, {}), (target, resp)
    reported = [r["user_id"] for r in await stored_reports(server)]
    # Nothing to review about a local account that does not exist; remote ones may exist.
    assert reported == [mallory.user_id, "@someone:elsewhere.example"]

    for target, body, errcode in [("not-a-user", {"reason": "x"}, "M_INVALID_PARAM"),
                                  (mallory.user_id, {}, "M_MISSING_PARAM"),
                                  (mallory.user_id, {"reason": ["x"]}, "M_BAD_JSON")]:
        resp = await alice.post(f"users/{target}/report", body)
        assert (resp.status, resp.errcode) == (400, errcode), (target, resp)
    assert len(await stored_reports(server)) == 2


async def test_reports_are_rate_limited_per_user(start_server: StartServer) -> None:
    server = await start_server({"rate_limits": {"enabled": True, "reports": {"per_second": 0.001, "burst": 2}}})
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice)
    assert (await alice.post(f"rooms/{room_id}/report", {"reason": "one"})).status == 200
    assert (await alice.post(f"users/{bob.user_id}/report", {"reason": "two"})).status == 200
    limited = await alice.post(f"rooms/{room_id}/report", {"reason": "three"})
    assert (limited.status, limited.errcode) == (429, "M_LIMIT_EXCEEDED")
    assert limited.body["retry_after_ms"] > 0
    # Another user has a bucket of their own.
    assert (await bob.post(f"rooms/{room_id}/report", {"reason": "mine"})).status == 200
    assert [r["reason"] for r in await stored_reports(server)] == ["one", "two", "mine"]
