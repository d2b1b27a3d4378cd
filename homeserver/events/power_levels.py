"""Power levels as the authorisation rules read them (server-server-api.md "Definitions",
event-schemas m.room.power_levels, rooms/v12.md rule 10).

A ``PowerLevel`` is an ``int``, or ``math.inf`` for the room creators of room version 12.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from .constants import CREATE_KEY, POWER_LEVELS_KEY, StateKey
from .errors import AuthError
from .ids import is_valid_user_id
from .pdu import Event, content_of, room_creators
from .room_versions import RoomVersion

PowerLevel = int | float
AuthState = Mapping[StateKey, Event]

# rooms/v12.md: "The power level of room creators is infinitely high."
CREATOR_POWER_LEVEL: Final = math.inf
# m.room.power_levels: "If the room contains no m.room.power_levels event, the room's
# creator has a power level of 100, and all other users have a power level of 0."
CREATOR_DEFAULT_POWER_LEVEL: Final = 100
# server-server-api.md "Definitions": invite defaults to 0; kick, ban and redact to 50.
# m.room.power_levels: state_default 50, events_default 0, users_default 0.
DEFAULT_LEVELS: Final[Mapping[str, int]] = {
    "invite": 0,
    "kick": 50,
    "ban": 50,
    "redact": 50,
    "state_default": 50,
    "events_default": 0,
    "users_default": 0,
}
# rooms/v12.md rule 10.1 and 10.6 (v10.md 9.1 and 9.5).
LEVEL_PROPERTIES: Final = (
    "users_default",
    "events_default",
    "state_default",
    "ban",
    "redact",
    "kick",
    "invite",
)
# rooms/fragments/v1-stringy-power-levels.md: optional whitespace, sign, base 10 digits.
_STRINGY_INTEGER = re.compile(r"[ \t\n\r\x0b\x0c]*[+-]?[0-9]+[ \t\n\r\x0b\x0c]*")


def parse_power_level(room_version: RoomVersion, value: Any) -> int:
    """A power level value as an integer; raises ``AuthError`` if the version forbids it.

    v10+ accept only integers. Earlier versions accept integer strings
    (v1-stringy-power-levels.md), and v1-5 also floats, truncated (v1-floaty-power-levels.md).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not room_version.integer_only_power_levels:
        if isinstance(value, str) and _STRINGY_INTEGER.fullmatch(value):
            return int(value)
        if isinstance(value, float) and room_version.float_power_levels and math.isfinite(value):
            return int(value)
    raise AuthError(f"invalid power level value {value!r}")


def _optional_level(
    room_version: RoomVersion, container: Mapping[str, Any], key: str
) -> int | None:
    value = container.get(key)
    return None if value is None else parse_power_level(room_version, value)


def _mapping(content: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = content.get(key)
    return value if isinstance(value, Mapping) else {}


def _power_levels_content(auth_state: AuthState) -> Mapping[str, Any] | None:
    event = auth_state.get(POWER_LEVELS_KEY)
    return None if event is None else content_of(event)


def named_level(room_version: RoomVersion, auth_state: AuthState, name: str) -> int:
    """The invite, kick, ban or redact level, or a ``*_default`` property."""
    content = _power_levels_content(auth_state) or {}
    level = _optional_level(room_version, content, name)
    return DEFAULT_LEVELS[name] if level is None else level


def user_power_level(room_version: RoomVersion, user_id: str, auth_state: AuthState) -> PowerLevel:
    create_event = auth_state.get(CREATE_KEY)
    is_creator = create_event is not None and user_id in room_creators(room_version, create_event)
    if is_creator and room_version.creators_have_infinite_power:
        return CREATOR_POWER_LEVEL
    content = _power_levels_content(auth_state)
    if content is None:
        return CREATOR_DEFAULT_POWER_LEVEL if is_creator else 0
    level = _optional_level(room_version, _mapping(content, "users"), user_id)
    return named_level(room_version, auth_state, "users_default") if level is None else level


def required_power_level(
    room_version: RoomVersion, event_type: str, is_state: bool, auth_state: AuthState
) -> int:
    """server-server-api.md "Required Power Level": ``events[type]``, else the default."""
    content = _power_levels_content(auth_state) or {}
    level = _optional_level(room_version, _mapping(content, "events"), event_type)
    if level is not None:
        return level
    return named_level(room_version, auth_state, "state_default" if is_state else "events_default")


def check_power_levels_event(
    room_version: RoomVersion, event: Event, auth_state: AuthState, sender_level: PowerLevel
) -> None:
    """rooms/v12.md rule 10 (v10/v11 rule 9, v1-v5 rule 10): an m.room.power_levels event."""
    content = content_of(event)
    _check_content(room_version, content, auth_state)
    current = _power_levels_content(auth_state)
    if current is None:
        return  # 10.5: no previous m.room.power_levels event
    sender = event.get("sender")
    for key, old, new in _changed_levels(room_version, current, content):
        kind = key[0]
        if kind == "users":
            # 10.9: entries changed or removed, other than the sender's own, must be below.
            if old is not None and key[1] != sender and old >= sender_level:
                raise AuthError(f"cannot change the power level of {key[1]}: not below yours")
        elif old is not None and old > sender_level:  # 10.6.1 and 10.7
            raise AuthError(f"cannot change {_describe(key)}: it is above your power level")
        if new is not None and new > sender_level:  # 10.6.2, 10.8 and 10.10
            raise AuthError(f"cannot set {_describe(key)} above your own power level")


def _check_content(
    room_version: RoomVersion, content: Mapping[str, Any], auth_state: AuthState
) -> None:
    # 10.1 and 10.2 (added in v10): every level must be an integer.
    if room_version.integer_only_power_levels:
        for name in LEVEL_PROPERTIES:
            if name in content:
                parse_power_level(room_version, content[name])
        for name in ("events", "notifications"):
            if name in content:
                _check_level_map(room_version, content[name], name)
    # 10.3: users maps valid user IDs to integers (or integer strings before v10).
    users = content.get("users", {})
    _check_level_map(room_version, users, "users")
    if not all(is_valid_user_id(user_id) for user_id in users):
        raise AuthError("power levels users contains an invalid user ID")
    # 10.4 (added in v12): room creators cannot be given a power level.
    create_event = auth_state.get(CREATE_KEY)
    if room_version.creators_have_infinite_power and create_event is not None:  # noqa: SIM102
        if room_creators(room_version, create_event) & set(users):
            raise AuthError("room creators cannot be listed in power levels users")


def _check_level_map(room_version: RoomVersion, value: Any, name: str) -> None:
    if not isinstance(value, Mapping):
        raise AuthError(f"power levels {name} must be an object")
    for level in value.values():
        parse_power_level(room_version, level)


LevelKey = tuple[str, str]  # ("", property) or (map name, entry) e.g. ("users", "@a:b")


def _changed_levels(
    room_version: RoomVersion, current: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[tuple[LevelKey, int | None, int | None]]:
    """Every level that is added, changed or removed: ``(key, old, new)``.

    Values are compared after parsing, so ``"50"`` and ``50`` are the same level.
    """
    maps = ["events", "users"]
    if room_version.limit_notifications_power_levels:  # v6: notifications as events
        maps.append("notifications")
    pairs: list[tuple[LevelKey, Mapping[str, Any], Mapping[str, Any]]] = [
        (("", name), current, new) for name in LEVEL_PROPERTIES
    ]
    for name in maps:
        old_map, new_map = _mapping(current, name), _mapping(new, name)
        pairs.extend(((name, entry), old_map, new_map) for entry in {*old_map, *new_map})
    for key, old_container, new_container in sorted(pairs, key=lambda p: p[0]):
        old = _optional_level(room_version, old_container, key[1])
        new_level = _optional_level(room_version, new_container, key[1])
        if old != new_level:
            yield key, old, new_level


def _describe(key: LevelKey) -> str:
    return key[1] if not key[0] else f"{key[0]}[{key[1]!r}]"
