"""Event format validation: what is dropped (or refused with M_BAD_JSON) before auth."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.events.canonical import encode_canonical_json
from homeserver.events.errors import EventFormatError
from homeserver.events.room_versions import get_room_version
from homeserver.events.validation import validate_event_shape

V12_ROOM_ID = "!" + "A" * 43


def _event(version: str = "11", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "m.room.message",
        "room_id": V12_ROOM_ID if version == "12" else "!r:a",
        "sender": "@u:a",
        "content": {"body": "hi"},
        "prev_events": ["$p"],
        "auth_events": ["$q"],
        "depth": 3,
        "origin_server_ts": 1000,
        "hashes": {"sha256": "abc"},
        "signatures": {"a": {"ed25519:1": "sig"}},
    }
    if version in ("1", "2"):
        event["event_id"] = "$e:a"
        event["prev_events"] = [["$p:a", {"sha256": "x"}]]
        event["auth_events"] = [["$q:a", {"sha256": "x"}]]
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


@pytest.mark.parametrize("version", ["1", "5", "10", "11", "12"])
def test_a_valid_event_passes(version: str) -> None:
    validate_event_shape(get_room_version(version), _event(version))


INVALID = [
    ("not an object", "11", []),
    ("missing type", "11", _event(type=None)),
    ("type too long", "11", _event(type="x" * 256)),
    ("sender is not a user ID", "11", _event(sender="u:a")),
    ("sender without a server name", "11", _event(sender="@u")),
    ("origin_server_ts is a string", "11", _event(origin_server_ts="1000")),
    ("content is not an object", "11", _event(content=[])),
    ("depth is a string", "11", _event(depth="3")),
    ("depth is a bool", "11", _event(depth=True)),
    ("depth is negative", "11", _event(depth=-1)),
    ("depth beyond 2**53-1 from v6", "11", _event(depth=2**53)),
    ("no hashes", "11", _event(hashes=None)),
    ("signatures are not strings", "11", _event(signatures={"a": {"ed25519:1": 5}})),
    ("state_key is not a string", "11", _event(state_key=5)),
    ("state_key too long", "11", _event(state_key="k" * 256)),
    ("unsigned is not an object", "11", _event(unsigned=1)),
    ("room_id without a sigil", "11", _event(room_id="r:a")),
    ("room_id without a domain before v12", "11", _event(room_id=V12_ROOM_ID)),
    ("room_id with a domain in v12", "12", _event("12", room_id="!r:a")),
    ("a prev_event that is not an event ID", "11", _event(prev_events=["p"])),
    ("prev_events is not a list", "11", _event(prev_events="$p")),
    ("21 prev_events", "11", _event(prev_events=[f"$p{i}" for i in range(21)])),
    ("11 auth_events", "11", _event(auth_events=[f"$a{i}" for i in range(11)])),
    ("v1 references must be pairs", "1", _event("1", prev_events=["$p:a"])),
    ("v1 events need an event_id with a domain", "1", _event("1", event_id="$nodomain")),
    ("a float from v6", "11", _event(content={"n": 1.5})),
    ("an integer beyond the canonical range", "11", _event(content={"n": 2**53})),
    ("larger than 65536 bytes", "11", _event(content={"body": "x" * 65536})),
    ("member without membership", "11", _event(type="m.room.member", state_key="@u:a", content={})),
    (
        "member without a state_key",
        "11",
        _event(type="m.room.member", content={"membership": "join"}),
    ),
    (
        "string power level from v10",
        "10",
        _event("10", type="m.room.power_levels", state_key="", content={"ban": "50"}),
    ),
    (
        "string user power level from v10",
        "11",
        _event(type="m.room.power_levels", state_key="", content={"users": {"@u:a": "50"}}),
    ),
    (
        "string events power level from v10",
        "12",
        _event(
            "12",
            type="m.room.power_levels",
            state_key="",
            content={"events": {"m.room.name": "50"}},
        ),
    ),
]


@pytest.mark.parametrize(
    ("version", "event"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_events_are_refused(version: str, event: Any) -> None:
    with pytest.raises(EventFormatError):
        validate_event_shape(get_room_version(version), event)


def test_leniency_of_older_room_versions() -> None:
    validate_event_shape(get_room_version("5"), _event("5", content={"n": 1.5}, depth=2**60))
    validate_event_shape(
        get_room_version("9"),
        _event("9", type="m.room.power_levels", state_key="", content={"ban": "50"}),
    )
    validate_event_shape(get_room_version("11"), _event(sender="@Histor!cal:a"))


def test_v12_create_event_has_no_room_id() -> None:
    create = _event(
        "12", type="m.room.create", state_key="", room_id=None, prev_events=[], auth_events=[]
    )
    validate_event_shape(get_room_version("12"), create)
    with pytest.raises(EventFormatError):
        validate_event_shape(get_room_version("11"), create)


def test_content_checks_can_be_left_to_the_auth_rules() -> None:
    member = _event(type="m.room.member", state_key="@u:a", content={})
    validate_event_shape(get_room_version("11"), member, check_content=False)
    power = _event(type="m.room.power_levels", state_key="", content={"ban": "50"})
    validate_event_shape(get_room_version("11"), power, check_content=False)


def test_exactly_65536_bytes_is_allowed() -> None:
    event = _event(content={"body": ""})
    size = len(encode_canonical_json(event))
    event["content"]["body"] = "x" * (65536 - size)
    validate_event_shape(get_room_version("11"), event)
    event["content"]["body"] += "x"
    with pytest.raises(EventFormatError):
        validate_event_shape(get_room_version("11"), event)
