"""Event types, membership values, join rules and limits named in the specification."""

from __future__ import annotations

from typing import Final

# Event types that take part in authorisation (rooms/v12.md "Authorisation rules").
CREATE: Final = "m.room.create"
MEMBER: Final = "m.room.member"
JOIN_RULES: Final = "m.room.join_rules"
POWER_LEVELS: Final = "m.room.power_levels"
THIRD_PARTY_INVITE: Final = "m.room.third_party_invite"
REDACTION: Final = "m.room.redaction"
ALIASES: Final = "m.room.aliases"
HISTORY_VISIBILITY: Final = "m.room.history_visibility"

# Memberships (content.membership of m.room.member).
JOIN: Final = "join"
INVITE: Final = "invite"
LEAVE: Final = "leave"
BAN: Final = "ban"
KNOCK: Final = "knock"

# Join rules (content.join_rule of m.room.join_rules).
PUBLIC: Final = "public"
KNOCK_RESTRICTED: Final = "knock_restricted"
RESTRICTED: Final = "restricted"
# INVITE and KNOCK are spelled like the memberships above.

# content.join_authorised_via_users_server of a restricted join (rooms/v8+).
AUTHORISING_USER: Final = "join_authorised_via_users_server"

# client-server-api "Size limits": the whole PDU, as canonical JSON, including signatures.
MAX_PDU_SIZE: Final = 65536
# client-server-api "Size limits" and appendices "Identifier Grammar": ids, type, state_key.
MAX_ID_BYTES: Final = 255
# PDU schema (auth_events_prev_events_v4.yaml).
MAX_AUTH_EVENTS: Final = 10
MAX_PREV_EVENTS: Final = 20
# appendices "Canonical JSON": integers must be in [-(2**53)+1, (2**53)-1].
CANONICALJSON_MAX_INT: Final = 2**53 - 1
CANONICALJSON_MIN_INT: Final = -CANONICALJSON_MAX_INT
# pdu_v1/v3/v4 "depth" (room versions 1-5 allow up to 2**63 - 1).
MAX_DEPTH_BEFORE_V6: Final = 2**63 - 1

StateKey = tuple[str, str]
"""A key of a room state map: ``(event type, state_key)``."""

CREATE_KEY: Final[StateKey] = (CREATE, "")
POWER_LEVELS_KEY: Final[StateKey] = (POWER_LEVELS, "")
JOIN_RULES_KEY: Final[StateKey] = (JOIN_RULES, "")
