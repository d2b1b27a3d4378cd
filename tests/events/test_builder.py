"""Building PDUs, the auth events selection, and a small room built end to end."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.events.auth_rules import check_auth, check_auth_events
from homeserver.events.builder import (
    auth_types_for_event,
    build_event,
    compute_depth,
    select_auth_events,
)
from homeserver.events.constants import StateKey
from homeserver.events.errors import EventFormatError, UnsupportedRoomVersion
from homeserver.events.hashing import content_hash_matches
from homeserver.events.room_versions import get_room_version
from homeserver.events.signing import verify_event_signatures

from ._support import appendix_signing_key

KEY = appendix_signing_key()
CREATE_KEY: StateKey = ("m.room.create", "")
PL_KEY: StateKey = ("m.room.power_levels", "")
JR_KEY: StateKey = ("m.room.join_rules", "")


def _lookup(server_name: str, key_id: str, minimum_valid_until_ts: int) -> bytes | None:
    return KEY.public_key if (server_name, key_id) == ("a", KEY.key_id) else None


def _build(version: str, room_id: str | None, **fields: Any) -> tuple[str, dict[str, Any]]:
    defaults: dict[str, Any] = {
        "sender": "@alice:a",
        "content": {},
        "prev_events": [],
        "auth_events": [],
        "depth": 1,
        "origin_server_ts": 1000,
        "server_name": "a",
        "signing_key": KEY,
    }
    return build_event(get_room_version(version), room_id=room_id, **{**defaults, **fields})


@pytest.mark.parametrize("version", ["3", "10", "11", "12"])
def test_built_events_are_hashed_signed_and_valid(version: str) -> None:
    room_id = None if version == "12" else "!r:a"
    event_id, event = _build(
        version, room_id, event_type="m.room.create", state_key="", content={"creator": "@alice:a"}
    )
    assert content_hash_matches(event)
    verify_event_signatures(get_room_version(version), event, _lookup)
    assert event_id.startswith("$") and "event_id" not in event
    assert ("room_id" in event) == (version != "12")


def test_room_id_must_be_absent_exactly_for_v12_create() -> None:
    with pytest.raises(ValueError):
        _build("12", "!r:a", event_type="m.room.create", state_key="")
    with pytest.raises(ValueError):
        _build("12", None, event_type="m.room.message")
    with pytest.raises(ValueError):
        _build("11", None, event_type="m.room.create", state_key="")


def test_redacts_moves_into_content_from_v11() -> None:
    _, v10 = _build("10", "!r:a", event_type="m.room.redaction", redacts="$target")
    _, v11 = _build("11", "!r:a", event_type="m.room.redaction", redacts="$target")
    assert v10["redacts"] == "$target" and "redacts" not in v10["content"]
    assert v11["content"]["redacts"] == "$target" and "redacts" not in v11
    with pytest.raises(ValueError):
        _build("11", "!r:a", event_type="m.room.message", redacts="$target")


def test_cannot_build_for_domain_event_id_versions() -> None:
    with pytest.raises(UnsupportedRoomVersion):
        _build("2", "!r:a", event_type="m.room.message")


def test_oversized_events_are_refused() -> None:
    with pytest.raises(EventFormatError, match="65536"):
        _build("11", "!r:a", event_type="m.room.message", content={"body": "x" * 65536})


def test_compute_depth() -> None:
    assert compute_depth(get_room_version("11"), []) == 1
    assert compute_depth(get_room_version("11"), [3, 9, 4]) == 10
    assert compute_depth(get_room_version("11"), [2**53 - 1]) == 2**53 - 1
    assert compute_depth(get_room_version("5"), [2**53 - 1]) == 2**53


AUTH_TYPE_CASES = [
    # (description, version, type, state_key, sender, content, expected keys)
    ("create selects nothing", "11", "m.room.create", "", "@a:a", {}, set()),
    (
        "message before v12",
        "11",
        "m.room.message",
        None,
        "@a:a",
        {},
        {CREATE_KEY, PL_KEY, ("m.room.member", "@a:a")},
    ),
    (
        "message in v12: never the create event",
        "12",
        "m.room.message",
        None,
        "@a:a",
        {},
        {PL_KEY, ("m.room.member", "@a:a")},
    ),
    (
        "join",
        "11",
        "m.room.member",
        "@b:b",
        "@b:b",
        {"membership": "join"},
        {CREATE_KEY, PL_KEY, ("m.room.member", "@b:b"), JR_KEY},
    ),
    (
        "invite",
        "12",
        "m.room.member",
        "@b:b",
        "@a:a",
        {"membership": "invite"},
        {PL_KEY, ("m.room.member", "@a:a"), ("m.room.member", "@b:b"), JR_KEY},
    ),
    (
        "knock",
        "12",
        "m.room.member",
        "@b:b",
        "@b:b",
        {"membership": "knock"},
        {PL_KEY, ("m.room.member", "@b:b"), JR_KEY},
    ),
    (
        "leave: no join rules",
        "12",
        "m.room.member",
        "@b:b",
        "@a:a",
        {"membership": "leave"},
        {PL_KEY, ("m.room.member", "@a:a"), ("m.room.member", "@b:b")},
    ),
    (
        "ban: no join rules",
        "10",
        "m.room.member",
        "@b:b",
        "@a:a",
        {"membership": "ban"},
        {CREATE_KEY, PL_KEY, ("m.room.member", "@a:a"), ("m.room.member", "@b:b")},
    ),
    (
        "third-party invite: the m.room.third_party_invite of the token",
        "12",
        "m.room.member",
        "@b:b",
        "@a:a",
        {
            "membership": "invite",
            "third_party_invite": {"signed": {"token": "tok", "mxid": "@b:b"}},
        },
        {
            PL_KEY,
            ("m.room.member", "@a:a"),
            ("m.room.member", "@b:b"),
            JR_KEY,
            ("m.room.third_party_invite", "tok"),
        },
    ),
    (
        "restricted join: the authorising user's membership (v8+)",
        "8",
        "m.room.member",
        "@b:b",
        "@b:b",
        {"membership": "join", "join_authorised_via_users_server": "@m:a"},
        {CREATE_KEY, PL_KEY, ("m.room.member", "@b:b"), JR_KEY, ("m.room.member", "@m:a")},
    ),
    (
        "restricted join key ignored before v8",
        "7",
        "m.room.member",
        "@b:b",
        "@b:b",
        {"membership": "join", "join_authorised_via_users_server": "@m:a"},
        {CREATE_KEY, PL_KEY, ("m.room.member", "@b:b"), JR_KEY},
    ),
]


@pytest.mark.parametrize(
    ("version", "event_type", "state_key", "sender", "content", "expected"),
    [c[1:] for c in AUTH_TYPE_CASES],
    ids=[c[0] for c in AUTH_TYPE_CASES],
)
def test_auth_types_for_event(
    version: str,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: dict[str, Any],
    expected: set[StateKey],
) -> None:
    assert (
        auth_types_for_event(get_room_version(version), event_type, state_key, sender, content)
        == expected
    )


def test_select_auth_events_takes_the_selected_keys_from_the_current_state() -> None:
    state = {
        CREATE_KEY: "$c",
        PL_KEY: "$p",
        JR_KEY: "$j",
        ("m.room.member", "@a:a"): "$a",
        ("m.room.topic", ""): "$t",
    }
    message = select_auth_events(get_room_version("11"), "m.room.message", None, "@a:a", {}, state)
    assert sorted(message) == ["$a", "$c", "$p"]
    join = select_auth_events(
        get_room_version("12"), "m.room.member", "@b:b", "@b:b", {"membership": "join"}, state
    )
    assert sorted(join) == ["$j", "$p"]


@pytest.mark.parametrize("version", ["10", "11", "12"])
def test_a_room_built_event_by_event_passes_every_check(version: str) -> None:
    """Create, join, power levels, join rules, a second user's join and a message."""
    room_version = get_room_version(version)
    state_ids: dict[StateKey, str] = {}
    events: dict[str, dict[str, Any]] = {}
    room_id: str | None = None if version == "12" else "!room:a"
    prev: list[str] = []
    steps: list[tuple[str, str, str | None, dict[str, Any]]] = [
        (
            "@alice:a",
            "m.room.create",
            "",
            {"room_version": version}
            | ({} if room_version.implicit_room_creator else {"creator": "@alice:a"}),
        ),
        ("@alice:a", "m.room.member", "@alice:a", {"membership": "join"}),
        (
            "@alice:a",
            "m.room.power_levels",
            "",
            {"users": {} if version == "12" else {"@alice:a": 100}},
        ),
        ("@alice:a", "m.room.join_rules", "", {"join_rule": "public"}),
        ("@bob:a", "m.room.member", "@bob:a", {"membership": "join"}),
        ("@bob:a", "m.room.message", None, {"body": "hello"}),
    ]
    for depth, (sender, event_type, state_key, content) in enumerate(steps, start=1):
        auth_ids = select_auth_events(
            room_version, event_type, state_key, sender, content, state_ids
        )
        event_id, event = build_event(
            room_version,
            room_id=room_id,
            sender=sender,
            event_type=event_type,
            state_key=state_key,
            content=content,
            prev_events=prev,
            auth_events=auth_ids,
            depth=depth,
            origin_server_ts=1000 + depth,
            server_name="a",
            signing_key=KEY,
        )
        check_auth_events(room_version, event, [events[e] for e in auth_ids])
        auth_state = {key: events[eid] for key, eid in state_ids.items()}
        check_auth(room_version, event, auth_state)
        events[event_id] = event
        if room_id is None:
            room_id = "!" + event_id[1:]
        if state_key is not None:
            state_ids[(event_type, state_key)] = event_id
        prev = [event_id]
    assert len(events) == len(steps)
