"""Typed events and responses: what a server sends becomes a typed value or a clear
``MalformedResponse``; other users' odd content never raises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientapi import MalformedResponse, MemberEvent, MessageEvent, ReactionEvent, RedactionEvent, StateEvent
from clientapi.errors import (BadJson, Forbidden, LimitExceeded, MatrixRequestError, NotFound, ServerError,
                              UnknownToken, UserInteractiveAuthRequired, error_for)
from clientapi.events import Event, parse_event
from clientapi.responses import parse_admin_users, parse_login, parse_sync
from clientapi.rooms import CREATOR_LEVEL, Room, RoomStore


def raw_event(**fields: Any) -> dict[str, Any]:
    base = {"type": "m.room.message", "sender": "@a:s", "event_id": "$1", "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": "hi"}}
    base.update(fields)
    return base


def test_events_get_their_classes() -> None:
    message = parse_event(raw_event(), "!r:s")
    assert isinstance(message, MessageEvent) and message.body == "hi" and message.room_id == "!r:s"
    assert message.raw["event_id"] == "$1"
    member = parse_event(raw_event(type="m.room.member", state_key="@b:s",
                                   content={"membership": "invite", "is_direct": True}), "!r:s")
    assert isinstance(member, MemberEvent) and member.user_id == "@b:s" and member.is_direct
    reaction = parse_event(raw_event(type="m.reaction", content={"m.relates_to": {
        "rel_type": "m.annotation", "event_id": "$0", "key": "👍"}}), "!r:s")
    assert isinstance(reaction, ReactionEvent) and (reaction.reacts_to, reaction.key) == ("$0", "👍")
    v11 = parse_event(raw_event(type="m.room.redaction", content={"redacts": "$0"}), "!r:s")
    v10 = parse_event(raw_event(type="m.room.redaction", redacts="$0", content={}), "!r:s")
    assert isinstance(v11, RedactionEvent) and isinstance(v10, RedactionEvent) and v10.redacts == "$0"
    assert isinstance(parse_event(raw_event(type="m.room.topic", state_key="", content={}), "!r:s"), StateEvent)


def test_message_relations() -> None:
    edit = parse_event(raw_event(content={"msgtype": "m.text", "body": "* new", "m.new_content": {"body": "new"},
                                          "m.relates_to": {"rel_type": "m.replace", "event_id": "$0"}}), "!r:s")
    assert isinstance(edit, MessageEvent) and edit.replaces == "$0" and edit.new_content == {"body": "new"}
    reply = parse_event(raw_event(content={"msgtype": "m.text", "body": "> <@b:s> q\n\nanswer",
                                           "m.relates_to": {"m.in_reply_to": {"event_id": "$0"}}}), "!r:s")
    assert isinstance(reply, MessageEvent) and reply.in_reply_to == "$0" and reply.text == "answer"


def test_odd_content_from_other_users_is_still_delivered() -> None:
    for content in ({"msgtype": "m.text", "body": 5}, {"body": "no msgtype"}, {"msgtype": ["x"], "body": "x"}):
        event = parse_event(raw_event(content=content), "!r:s")
        assert type(event) is Event and event.content == content
    odd_reaction = parse_event(raw_event(type="m.reaction", content={"m.relates_to": "nope"}), "!r:s")
    assert type(odd_reaction) is Event and odd_reaction.relates_to == {}


@pytest.mark.parametrize("fields, problem", [
    ({"event_id": None}, "'event_id' must be str"),
    ({"origin_server_ts": "1"}, "'origin_server_ts' must be int"),
    ({"origin_server_ts": True}, "'origin_server_ts' must be int"),
    ({"content": []}, "'content' must be dict"),
    ({"state_key": 3}, "'state_key' must be str"),
])
def test_broken_events_name_the_field(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedResponse, match=problem):
        parse_event(raw_event(**fields), "!r:s", "GET /sync: rooms.join.!r:s.timeline[0]")


def test_sync_parses_every_section() -> None:
    body = {
        "next_batch": "s2",
        "account_data": {"events": [{"type": "m.direct", "content": {"@b:s": ["!r:s"]}}]},
        "presence": {"events": [{"type": "m.presence", "sender": "@b:s", "content": {"presence": "online"}}]},
        "rooms": {
            "join": {"!r:s": {
                "state": {"events": [raw_event(type="m.room.create", state_key="", event_id="$c",
                                               content={"room_version": "12"})]},
                "timeline": {"events": [raw_event(type="m.room.member", state_key="@a:s",
                                                  content={"membership": "join"}, event_id="$m"), raw_event()],
                             "limited": True, "prev_batch": "p1"},
                "ephemeral": {"events": [{"type": "m.typing", "content": {"user_ids": ["@b:s"]}}]},
                "unread_notifications": {"notification_count": 2, "highlight_count": 1},
            }},
            "invite": {"!i:s": {"invite_state": {"events": [
                {"type": "m.room.name", "sender": "@b:s", "state_key": "", "content": {"name": "Plans"}},
                {"type": "m.room.member", "sender": "@b:s", "state_key": "@a:s",
                 "content": {"membership": "invite", "is_direct": True}}]}}},
            "leave": {"!l:s": {"timeline": {"events": []}}},
        },
    }
    response = parse_sync(body)
    (joined,) = response.joined
    assert joined.limited and joined.prev_batch == "p1" and joined.notification_count == 2
    assert joined.ephemeral[0].typing_user_ids == ["@b:s"]
    (invite,) = response.invited
    assert (invite.sender, invite.is_direct, invite.room_name) == ("@b:s", True, "Plans")
    assert response.presence[0].presence == "online" and response.left[0].room_id == "!l:s"
    store = RoomStore()
    store.rooms["!l:s"] = Room("!l:s")
    store.apply(response)
    room = store.rooms["!r:s"]
    assert room.joined_user_ids == ["@a:s"] and room.power_level("@a:s") == CREATOR_LEVEL
    assert "!l:s" not in store.rooms and "!i:s" in store.invites
    assert store.direct_rooms() == {"@b:s": ["!r:s"]}


@pytest.mark.parametrize("body, problem", [
    ([], "expected a JSON object, got list"),
    ({}, "missing field 'next_batch'"),
    ({"next_batch": 5}, "field 'next_batch' must be str"),
    ({"next_batch": "x", "rooms": {"join": {"!r:s": {"timeline": {"events": [5]}}}}},
     "rooms.join.!r:s: timeline\\[0\\]: an event must be an object"),
    ({"next_batch": "x", "rooms": {"join": []}}, "field 'join' must be dict"),
    ({"next_batch": "x", "rooms": {"join": {"!r:s": {"timeline": {"limited": "yes"}}}}},
     "field 'limited' must be bool"),
])
def test_malformed_sync_names_what_is_wrong(body: Any, problem: str) -> None:
    with pytest.raises(MalformedResponse, match=problem):
        parse_sync(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["next_batch", "rooms", "join", "invite", "leave", "timeline", "events", "state", "type",
                         "sender", "event_id", "origin_server_ts", "content", "state_key", "!r:s", "ephemeral",
                         "account_data", "presence", "invite_state", "limited", "membership", "body", "msgtype",
                         "unread_notifications", "to_device"]), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_parses_or_raises_malformed_response(body: Any) -> None:
    try:
        response = parse_sync(body)
    except MalformedResponse:
        return
    RoomStore().apply(response)


def test_login_response() -> None:
    session = parse_login({"user_id": "@a:s", "device_id": "D", "access_token": "t", "refresh_token": "r",
                           "expires_in_ms": 5000}, "POST /login", now_ms=1000)
    assert (session.expires_at_ms, session.refresh_token) == (6000, "r")
    with pytest.raises(MalformedResponse, match="POST /login: missing field 'access_token'"):
        parse_login({"user_id": "@a:s", "device_id": "D"}, "POST /login", 0)


def test_admin_user_page() -> None:
    page = parse_admin_users({"users": [{"name": "@a:s", "creation_ts": 5, "admin": 0, "deactivated": False,
                                         "is_guest": 0, "user_type": None, "displayname": "A"}],
                              "next_token": "100", "total": 101}, "GET users")
    assert page.users[0].name == "@a:s" and page.next_token == "100" and not page.users[0].admin
    with pytest.raises(MalformedResponse, match="creation_ts"):
        parse_admin_users({"users": [{"name": "@a:s"}]}, "GET users")


def test_errors_map_to_classes() -> None:
    assert isinstance(error_for(403, {"errcode": "M_FORBIDDEN", "error": "no"}), Forbidden)
    assert isinstance(error_for(404, {"errcode": "M_NOT_FOUND"}), NotFound)
    limited = error_for(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1500})
    assert isinstance(limited, LimitExceeded) and limited.retry_after_ms == 1500
    token = error_for(401, {"errcode": "M_UNKNOWN_TOKEN", "soft_logout": True})
    assert isinstance(token, UnknownToken) and token.soft_logout
    uia = error_for(401, {"flows": [{"stages": ["m.login.dummy"]}], "session": "x"})
    assert isinstance(uia, UserInteractiveAuthRequired) and uia.flows == [["m.login.dummy"]]
    assert isinstance(error_for(400, {"errcode": "M_BAD_JSON"}), BadJson)
    assert isinstance(error_for(502, "Bad gateway"), ServerError)
    odd = error_for(418, {"errcode": "M_TEAPOT", "error": "short and stout"}, "GET", "/x")
    assert type(odd) is MatrixRequestError and odd.errcode == "M_TEAPOT" and "GET /x: 418" in str(odd)
    # A body that is not the spec's shape still gives a usable error.
    assert error_for(404, ["x"]).errcode is None
