"""The redaction algorithm per room version, and whether a redaction is applied."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from homeserver.events.redaction import redact_event, redaction_applies
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, get_room_version

from ._support import expectation_for, load_fixture

CASES = load_fixture("redaction.json")["cases"]


@pytest.mark.parametrize("version", list(KNOWN_ROOM_VERSIONS))
@pytest.mark.parametrize(
    "case", CASES, ids=[c["description"].split(" ")[0] + str(i) for i, c in enumerate(CASES)]
)
def test_redaction_fixture(case: dict[str, Any], version: str) -> None:
    original = copy.deepcopy(case["event"])
    redacted = redact_event(get_room_version(version), case["event"])
    assert redacted == expectation_for(case["expected"], version)
    assert case["event"] == original


def test_redacting_twice_changes_nothing() -> None:
    for version in ("1", "9", "11"):
        room_version = get_room_version(version)
        for case in CASES:
            once = redact_event(room_version, case["event"])
            assert redact_event(room_version, once) == once


def _levels(redact: int) -> dict[tuple[str, str], dict[str, Any]]:
    create = {
        "type": "m.room.create",
        "sender": "@alice:a",
        "state_key": "",
        "content": {"creator": "@alice:a"},
    }
    power = {
        "type": "m.room.power_levels",
        "sender": "@alice:a",
        "state_key": "",
        "content": {"users": {"@mod:b": 50}, "redact": redact},
    }
    return {("m.room.create", ""): create, ("m.room.power_levels", ""): power}


def test_redaction_applies_by_redact_level_or_same_server() -> None:
    v10 = get_room_version("10")
    original = {"type": "m.room.message", "sender": "@u:a", "content": {}}
    same_server = {"type": "m.room.redaction", "sender": "@other:a", "redacts": "$x"}
    moderator = {"type": "m.room.redaction", "sender": "@mod:b", "redacts": "$x"}
    stranger = {"type": "m.room.redaction", "sender": "@nobody:b", "redacts": "$x"}
    assert redaction_applies(v10, same_server, original, _levels(50))
    assert redaction_applies(v10, moderator, original, _levels(50))
    assert not redaction_applies(v10, moderator, original, _levels(60))
    assert not redaction_applies(v10, stranger, original, _levels(50))
    # In rooms 1-2 the auth rules already decided (rule 11).
    assert redaction_applies(get_room_version("1"), stranger, original, _levels(50))
