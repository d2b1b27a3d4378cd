"""The authorisation rules, driven by the fixtures in fixtures/auth/ (one file per rule
family, each case run in every room version it names), plus the rules that need real
signatures or several events: third-party invites and the auth_events checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.events.auth_rules import check_auth, check_auth_events
from homeserver.events.canonical import decode_base64
from homeserver.events.errors import AuthError
from homeserver.events.room_versions import get_room_version
from homeserver.events.signing import sign_json, signing_key_from_seed

from ._support import (
    AbbreviatedRoom,
    expectation_for,
    fixture_names,
    fixture_versions,
    load_fixture,
)


def _fixture_cases() -> list[Any]:
    params = []
    for name in fixture_names("auth"):
        fixture = load_fixture(name)
        for version in fixture_versions(fixture):
            for index, case in enumerate(fixture["cases"]):
                case_id = f"{name.removeprefix('auth/').removesuffix('.json')}-v{version}-{index}"
                params.append(pytest.param(fixture, version, case, id=case_id))
    return params


@pytest.mark.parametrize(("fixture", "version", "case"), _fixture_cases())
def test_auth_rules_fixture(fixture: dict[str, Any], version: str, case: dict[str, Any]) -> None:
    room_version = get_room_version(version)
    room = AbbreviatedRoom(room_version, fixture["create"])
    auth_state = room.state([*fixture["state"], *case.get("state", [])])
    event = room.complete(case["event"])
    allowed = expectation_for(case["allowed"], version)
    if allowed:
        check_auth(room_version, event, auth_state)
    else:
        with pytest.raises(AuthError):
            check_auth(room_version, event, auth_state)


def test_fixtures_cover_every_rule_family() -> None:
    assert {name.removeprefix("auth/") for name in fixture_names("auth")} >= {
        "create.json",
        "creator_join.json",
        "joins.json",
        "invites.json",
        "leaves_kicks_bans.json",
        "knocks.json",
        "power_levels.json",
        "creators.json",
        "misc.json",
        "no_federation.json",
    }


def test_missing_create_event_is_rejected() -> None:
    room_version = get_room_version("11")
    room = AbbreviatedRoom(
        room_version,
        {"type": "m.room.create", "sender": "@alice:a", "state_key": "", "content": {}},
    )
    state = room.state(
        [
            {
                "type": "m.room.member",
                "sender": "@alice:a",
                "state_key": "@alice:a",
                "content": {"membership": "join"},
            }
        ]
    )
    del state[("m.room.create", "")]
    with pytest.raises(AuthError, match=r"m\.room\.create"):
        check_auth(
            room_version,
            room.complete({"type": "m.room.message", "sender": "@alice:a", "content": {}}),
            state,
        )


# ---------------------------------------------------------------- third-party invites

IDENTITY_SERVER_KEY = signing_key_from_seed("0", decode_base64("A" * 43))
OTHER_KEY = signing_key_from_seed("0", decode_base64("B" * 43))


def _third_party_room(
    version: str, public_keys: dict[str, Any]
) -> tuple[AbbreviatedRoom, dict[Any, Any]]:
    room = AbbreviatedRoom(
        get_room_version(version),
        {"type": "m.room.create", "sender": "@alice:a", "state_key": "", "content": {}},
    )
    state = room.state(
        [
            {
                "type": "m.room.member",
                "sender": "@alice:a",
                "state_key": "@alice:a",
                "content": {"membership": "join"},
            },
            {
                "type": "m.room.power_levels",
                "sender": "@alice:a",
                "state_key": "",
                "content": {"users": {"@alice:a": 100}},
            },
            {
                "type": "m.room.member",
                "sender": "@alice:a",
                "state_key": "@mallory:b",
                "content": {"membership": "ban"},
            },
            {
                "type": "m.room.third_party_invite",
                "sender": "@alice:a",
                "state_key": "tok",
                "content": {"display_name": "b...@example.com", **public_keys},
            },
        ]
    )
    return room, state


def _third_party_invite(
    room: AbbreviatedRoom,
    *,
    mxid: str = "@bob:b",
    token: str = "tok",
    key: Any = IDENTITY_SERVER_KEY,
    sender: str = "@alice:a",
    state_key: str = "@bob:b",
) -> dict[str, Any]:
    signed = sign_json({"mxid": mxid, "token": token}, "id.example.org", key)
    content = {
        "membership": "invite",
        "third_party_invite": {"display_name": "b...", "signed": signed},
    }
    return room.complete(
        {"type": "m.room.member", "sender": sender, "state_key": state_key, "content": content}
    )


THIRD_PARTY_CASES = [
    ("signed by the public_key", {}, {"public_key": IDENTITY_SERVER_KEY.public_key_base64}, True),
    (
        "signed by one of public_keys",
        {},
        {
            "public_keys": [
                {"public_key": OTHER_KEY.public_key_base64},
                {"public_key": IDENTITY_SERVER_KEY.public_key_base64},
            ]
        },
        True,
    ),
    (
        "signed by another key",
        {"key": OTHER_KEY},
        {"public_key": IDENTITY_SERVER_KEY.public_key_base64},
        False,
    ),
    (
        "mxid is not the state_key",
        {"mxid": "@carol:b"},
        {"public_key": IDENTITY_SERVER_KEY.public_key_base64},
        False,
    ),
    (
        "no m.room.third_party_invite for the token",
        {"token": "other"},
        {"public_key": IDENTITY_SERVER_KEY.public_key_base64},
        False,
    ),
    (
        "sender differs from the third-party invite's",
        {"sender": "@carol:a"},
        {"public_key": IDENTITY_SERVER_KEY.public_key_base64},
        False,
    ),
    (
        "target is banned",
        {"mxid": "@mallory:b", "state_key": "@mallory:b"},
        {"public_key": IDENTITY_SERVER_KEY.public_key_base64},
        False,
    ),
]


@pytest.mark.parametrize("version", ["1", "10", "11", "12"])
@pytest.mark.parametrize(
    ("invite_args", "public_keys", "allowed"),
    [c[1:] for c in THIRD_PARTY_CASES],
    ids=[c[0] for c in THIRD_PARTY_CASES],
)
def test_third_party_invite(
    version: str, invite_args: dict[str, Any], public_keys: dict[str, Any], allowed: bool
) -> None:
    room, state = _third_party_room(version, public_keys)
    event = _third_party_invite(room, **invite_args)
    if allowed:
        check_auth(room.room_version, event, state)
    else:
        with pytest.raises(AuthError):
            check_auth(room.room_version, event, state)


def test_third_party_invite_without_signed_is_rejected() -> None:
    room, state = _third_party_room("11", {"public_key": IDENTITY_SERVER_KEY.public_key_base64})
    event = room.complete(
        {
            "type": "m.room.member",
            "sender": "@alice:a",
            "state_key": "@bob:b",
            "content": {"membership": "invite", "third_party_invite": {"display_name": "x"}},
        }
    )
    with pytest.raises(AuthError, match="signed"):
        check_auth(room.room_version, event, state)


def test_third_party_invite_tampered_after_signing_is_rejected() -> None:
    room, state = _third_party_room("11", {"public_key": IDENTITY_SERVER_KEY.public_key_base64})
    event = _third_party_invite(room)
    event["content"]["third_party_invite"]["signed"]["extra"] = "tampered"
    with pytest.raises(AuthError):
        check_auth(room.room_version, event, state)


# ---------------------------------------------------------------- auth_events (rule 2; v12 rule 3)


def _auth_events_room(version: str) -> tuple[AbbreviatedRoom, dict[str, dict[str, Any]]]:
    room = AbbreviatedRoom(
        get_room_version(version),
        {"type": "m.room.create", "sender": "@alice:a", "state_key": "", "content": {}},
    )
    events = {
        "create": room.create,
        "alice": room.complete(
            {
                "type": "m.room.member",
                "sender": "@alice:a",
                "state_key": "@alice:a",
                "content": {"membership": "join"},
            }
        ),
        "power": room.complete(
            {"type": "m.room.power_levels", "sender": "@alice:a", "state_key": "", "content": {}}
        ),
        "join_rules": room.complete(
            {
                "type": "m.room.join_rules",
                "sender": "@alice:a",
                "state_key": "",
                "content": {"join_rule": "public"},
            }
        ),
        "bob": room.complete(
            {
                "type": "m.room.member",
                "sender": "@bob:a",
                "state_key": "@bob:a",
                "content": {"membership": "join"},
            }
        ),
    }
    return room, events


@pytest.mark.parametrize("version", ["10", "11"])
def test_auth_events_before_v12_need_the_create_event(version: str) -> None:
    room, e = _auth_events_room(version)
    message = room.complete({"type": "m.room.message", "sender": "@alice:a", "content": {}})
    check_auth_events(room.room_version, message, [e["create"], e["power"], e["alice"]])
    with pytest.raises(AuthError, match=r"no m\.room\.create"):
        check_auth_events(room.room_version, message, [e["power"], e["alice"]])


def test_auth_events_in_v12_must_not_list_the_create_event() -> None:
    room, e = _auth_events_room("12")
    message = room.complete({"type": "m.room.message", "sender": "@alice:a", "content": {}})
    check_auth_events(room.room_version, message, [e["power"], e["alice"]])
    with pytest.raises(AuthError, match="unexpected"):
        check_auth_events(room.room_version, message, [e["create"], e["power"], e["alice"]])


@pytest.mark.parametrize("version", ["10", "12"])
def test_auth_events_selection_violations(version: str) -> None:
    room, e = _auth_events_room(version)
    create = [e["create"]] if room.room_version.create_event_in_auth_events else []
    message = room.complete({"type": "m.room.message", "sender": "@alice:a", "content": {}})
    join = room.complete(
        {
            "type": "m.room.member",
            "sender": "@bob:a",
            "state_key": "@bob:a",
            "content": {"membership": "join"},
        }
    )
    # join_rules are selected for joins only; another user's membership never for a message.
    check_auth_events(room.room_version, join, [*create, e["power"], e["join_rules"], e["bob"]])
    with pytest.raises(AuthError, match="unexpected"):
        check_auth_events(
            room.room_version, message, [*create, e["power"], e["alice"], e["join_rules"]]
        )
    with pytest.raises(AuthError, match="unexpected"):
        check_auth_events(room.room_version, message, [*create, e["power"], e["alice"], e["bob"]])
    with pytest.raises(AuthError, match="duplicate"):
        check_auth_events(room.room_version, message, [*create, e["power"], e["power"], e["alice"]])
    other_room = {**e["power"], "room_id": "!elsewhere:a"}
    with pytest.raises(AuthError, match="different room"):
        check_auth_events(room.room_version, message, [*create, other_room, e["alice"]])
