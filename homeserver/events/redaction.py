"""The redaction algorithm (rooms/fragments/v1-, v6-, v9-, v11-redactions.md, rooms/v8.md)
and the receiving server's redaction check (rooms/fragments/v3-handling-redactions.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .constants import (
    ALIASES,
    CREATE,
    HISTORY_VISIBILITY,
    JOIN_RULES,
    MEMBER,
    POWER_LEVELS,
    REDACTION,
)
from .errors import AuthError
from .ids import domain_of
from .pdu import Event, content_of
from .power_levels import AuthState, named_level, user_power_level
from .room_versions import RoomVersion

# Top-level keys every room version keeps (v11-redactions.md).
_KEPT_KEYS: Final = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "auth_events",
        "origin_server_ts",
    }
)
# v1-redactions.md also keeps these; v11 stops protecting them.
_KEPT_KEYS_BEFORE_V11: Final = _KEPT_KEYS | {"prev_state", "origin", "membership"}
_POWER_LEVELS_KEYS: Final = (
    "ban",
    "events",
    "events_default",
    "kick",
    "redact",
    "state_default",
    "users",
    "users_default",
)


def redact_event(room_version: RoomVersion, event: Event) -> dict[str, Any]:
    """The redacted copy of ``event``; ``unsigned`` is dropped like any other unlisted key.

    The copy is shallow below ``content``: treat both dicts as immutable.
    """
    kept = _KEPT_KEYS if room_version.updated_redaction_rules else _KEPT_KEYS_BEFORE_V11
    redacted = {key: value for key, value in event.items() if key in kept}
    redacted["content"] = _redacted_content(room_version, event.get("type"), content_of(event))
    return redacted


def _kept_content_keys(room_version: RoomVersion, event_type: Any) -> tuple[str, ...]:
    if event_type == MEMBER:
        if room_version.redaction_keeps_authorising_user:  # v9
            return ("membership", "join_authorised_via_users_server")
        return ("membership",)
    if event_type == CREATE:  # (v11+ keeps all content, handled by the caller)
        return ("creator",)
    if event_type == JOIN_RULES:
        return ("join_rule", "allow") if room_version.restricted_join_rule else ("join_rule",)
    if event_type == POWER_LEVELS:
        if room_version.updated_redaction_rules:
            return (*_POWER_LEVELS_KEYS, "invite")
        return _POWER_LEVELS_KEYS
    if event_type == HISTORY_VISIBILITY:
        return ("history_visibility",)
    if event_type == ALIASES and room_version.special_case_aliases_auth:  # v1-5 only
        return ("aliases",)
    if event_type == REDACTION and room_version.updated_redaction_rules:
        return ("redacts",)
    return ()


def _redacted_content(
    room_version: RoomVersion, event_type: Any, content: Mapping[str, Any]
) -> dict[str, Any]:
    if event_type == CREATE and room_version.updated_redaction_rules:
        return dict(content)  # v11: "m.room.create allows all keys"
    redacted = {
        key: content[key] for key in _kept_content_keys(room_version, event_type) if key in content
    }
    if event_type == MEMBER and room_version.updated_redaction_rules:
        # v11: "allows the signed key of the third_party_invite key". As Synapse does (its
        # signatures are what we must reproduce), an object third_party_invite is kept
        # with only "signed", even if that leaves it empty.
        third_party_invite = content.get("third_party_invite")
        if isinstance(third_party_invite, Mapping):
            redacted["third_party_invite"] = {
                key: value for key, value in third_party_invite.items() if key == "signed"
            }
    return redacted


def redaction_applies(
    room_version: RoomVersion, redaction: Event, original: Event, auth_state: AuthState
) -> bool:
    """v3-handling-redactions.md: whether a (valid) redaction is applied to its target.

    Applied when the redaction's sender has at least the *redact level* in ``auth_state``,
    or when both events were sent by the same server. In room versions 1 and 2 the auth
    rules already decided this (rule 11), so it always applies.
    """
    if room_version.redaction_in_auth_rules:
        return True
    sender, original_sender = redaction.get("sender"), original.get("sender")
    if not isinstance(sender, str) or not isinstance(original_sender, str):
        return False
    try:
        if domain_of(sender) == domain_of(original_sender):
            return True
        level = user_power_level(room_version, sender, auth_state)
        return level >= named_level(room_version, auth_state, "redact")
    except (AuthError, ValueError):
        return False
