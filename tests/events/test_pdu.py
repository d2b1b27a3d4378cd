"""PDU accessors and identifier grammar."""

from __future__ import annotations

import pytest

from homeserver.events.ids import (
    domain_of,
    is_valid_room_id,
    is_valid_server_name,
    is_valid_user_id,
)
from homeserver.events.pdu import (
    auth_event_ids,
    auth_event_ids_with_create,
    prev_event_ids,
    redacts_of,
    room_creators,
)
from homeserver.events.room_versions import get_room_version

V12_ROOM_ID = "!" + "R" * 43


def test_references_in_both_formats() -> None:
    assert prev_event_ids({"prev_events": [["$a:x", {"sha256": "h"}], ["$b:x", {}]]}) == [
        "$a:x",
        "$b:x",
    ]
    assert auth_event_ids({"auth_events": ["$a", "$b"]}) == ["$a", "$b"]
    assert auth_event_ids({"auth_events": "garbage"}) == []


def test_v12_events_imply_their_create_event() -> None:
    v11, v12 = get_room_version("11"), get_room_version("12")
    message = {"type": "m.room.message", "room_id": V12_ROOM_ID, "auth_events": ["$p"]}
    assert auth_event_ids_with_create(v12, message) == ["$p", "$" + "R" * 43]
    assert auth_event_ids_with_create(v11, message) == ["$p"]
    create = {"type": "m.room.create", "auth_events": []}
    assert auth_event_ids_with_create(v12, create) == []


def test_redacts_moved_into_content_in_v11() -> None:
    redaction = {"type": "m.room.redaction", "redacts": "$top", "content": {"redacts": "$inner"}}
    assert redacts_of(get_room_version("10"), redaction) == "$top"
    assert redacts_of(get_room_version("11"), redaction) == "$inner"
    assert redacts_of(get_room_version("11"), {**redaction, "type": "m.room.message"}) is None


def test_room_creators_per_version() -> None:
    create = {"sender": "@s:a", "content": {"creator": "@c:a", "additional_creators": ["@x:b", 5]}}
    assert room_creators(get_room_version("10"), create) == {"@c:a"}
    assert room_creators(get_room_version("11"), create) == {"@s:a"}
    assert room_creators(get_room_version("12"), create) == {"@s:a", "@x:b"}


@pytest.mark.parametrize(
    ("user_id", "valid"),
    [
        ("@alice:example.org", True),
        ("@alice:example.org:8448", True),
        ("@alice:[1234:5678::abcd]:5678", True),
        ("@Alice!#:1.2.3.4", True),  # historical localparts are accepted over federation
        ("@:example.org", True),
        ("alice:example.org", False),
        ("@alice", False),
        ("@alice:", False),
        ("@alice:exa mple.org", False),
        ("@" + "a" * 250 + ":example.org", False),
        (None, False),
    ],
)
def test_user_ids(user_id: object, valid: bool) -> None:
    assert is_valid_user_id(user_id) is valid


def test_room_ids_and_server_names() -> None:
    assert is_valid_room_id("!abc:example.org", hash_based=False)
    assert not is_valid_room_id(V12_ROOM_ID, hash_based=False)
    assert is_valid_room_id(V12_ROOM_ID, hash_based=True)
    assert not is_valid_room_id("!abc:example.org", hash_based=True)
    assert is_valid_server_name("matrix.org:8888") and not is_valid_server_name("matrix.org:")
    assert domain_of("$event:example.org") == "example.org"
    with pytest.raises(ValueError):
        domain_of("$nodomain")
