"""The room version table."""

from __future__ import annotations

import dataclasses

import pytest

from homeserver.events.errors import UnsupportedRoomVersion
from homeserver.events.room_versions import (
    CREATABLE_ROOM_VERSIONS,
    DEFAULT_ROOM_VERSION,
    KNOWN_ROOM_VERSIONS,
    EventIdFormat,
    StateResVersion,
    get_room_version,
)


def test_known_versions_are_1_to_12() -> None:
    assert list(KNOWN_ROOM_VERSIONS) == [str(v) for v in range(1, 13)]
    assert DEFAULT_ROOM_VERSION == "12" and set(CREATABLE_ROOM_VERSIONS) == {"10", "11", "12"}


@pytest.mark.parametrize("identifier", ["13", "", "1.0", None, "org.example.v1"])
def test_unknown_versions(identifier: str) -> None:
    with pytest.raises(UnsupportedRoomVersion):
        get_room_version(identifier)


def test_the_table_is_immutable() -> None:
    with pytest.raises(TypeError):
        KNOWN_ROOM_VERSIONS["13"] = get_room_version("12")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_room_version("12").identifier = "13"  # type: ignore[misc]


def _versions_with(flag: str) -> list[int]:
    return [int(v.identifier) for v in KNOWN_ROOM_VERSIONS.values() if getattr(v, flag)]


@pytest.mark.parametrize(
    ("flag", "versions"),
    [
        ("redaction_in_auth_rules", [1, 2]),
        ("special_case_aliases_auth", [1, 2, 3, 4, 5]),
        ("float_power_levels", [1, 2, 3, 4, 5]),
        ("enforce_key_validity", list(range(5, 13))),
        ("strict_canonical_json", list(range(6, 13))),
        ("knock_join_rule", list(range(7, 13))),
        ("restricted_join_rule", list(range(8, 13))),
        ("redaction_keeps_authorising_user", list(range(9, 13))),
        ("knock_restricted_join_rule", [10, 11, 12]),
        ("integer_only_power_levels", [10, 11, 12]),
        ("updated_redaction_rules", [11, 12]),
        ("implicit_room_creator", [11, 12]),
        ("redacts_in_content", [11, 12]),
        ("room_id_is_create_event_id", [12]),
        ("creators_have_infinite_power", [12]),
    ],
)
def test_feature_flags_follow_the_spec(flag: str, versions: list[int]) -> None:
    assert _versions_with(flag) == versions


def test_event_id_formats_and_state_resolution() -> None:
    formats = {v.identifier: v.event_id_format for v in KNOWN_ROOM_VERSIONS.values()}
    assert formats["1"] is formats["2"] is EventIdFormat.WITH_DOMAIN
    assert formats["3"] is EventIdFormat.REFERENCE_HASH
    assert all(formats[str(v)] is EventIdFormat.REFERENCE_HASH_URLSAFE for v in range(4, 13))
    state_res = [v.state_res for v in KNOWN_ROOM_VERSIONS.values()]
    assert state_res == [StateResVersion.V1] + [StateResVersion.V2] * 10 + [StateResVersion.V2_1]
