"""The table of room versions and the behaviour each one selects (rooms/v1.md .. rooms/v12.md).

Every algorithm in this package takes a ``RoomVersion`` and branches on its flags, never on
its identifier, so that the differences between versions live in this one table.

Support: all of 1..12 can be hashed, signed, redacted, validated and authorised. State
resolution is implemented for the v2 algorithm (rooms 2..11) and its v12 iteration; the
original algorithm of room version 1 is not implemented (``state_res.resolve_state`` raises
``UnsupportedRoomVersion``). New events can be built for rooms 3..12 (versions 1 and 2 need
sender-chosen event IDs); rooms are created in ``CREATABLE_ROOM_VERSIONS`` only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from .errors import UnsupportedRoomVersion


class EventIdFormat(enum.Enum):
    # rooms/v1.md "Event IDs": "$opaque_id:domain", chosen by the sending server.
    WITH_DOMAIN = "with_domain"
    # rooms/v3.md "Event IDs": "$" + unpadded Base64 of the reference hash.
    REFERENCE_HASH = "reference_hash"
    # rooms/v4.md "Event IDs": "$" + URL-safe unpadded Base64 of the reference hash.
    REFERENCE_HASH_URLSAFE = "reference_hash_urlsafe"


class StateResVersion(enum.Enum):
    V1 = "v1"  # rooms/v1.md, not implemented
    V2 = "v2"  # rooms/fragments/v2-state-res.md
    V2_1 = "v2.1"  # rooms/v12.md "State resolution": empty start, conflicted subgraph


@dataclass(frozen=True)
class RoomVersion:
    identifier: str
    event_id_format: EventIdFormat
    state_res: StateResVersion
    # v1-2: rule 11 authorises m.room.redaction by redact level or event ID domain.
    redaction_in_auth_rules: bool
    # v1-5: rule 4 authorises m.room.aliases by server; redaction keeps content.aliases.
    special_case_aliases_auth: bool
    # v1-5 (v1-stringy/floaty power levels): power levels may be floats, truncated.
    float_power_levels: bool
    # v5+: signing keys must be valid at the event's origin_server_ts.
    enforce_key_validity: bool
    # v6+: events must be canonical JSON (integers in range, no floats, depth <= 2**53-1).
    strict_canonical_json: bool
    # v6+: power level changes to content.notifications are checked like content.events.
    limit_notifications_power_levels: bool
    # v7+: the knock membership and join rule.
    knock_join_rule: bool
    # v8+: the restricted join rule; redaction keeps m.room.join_rules content.allow.
    restricted_join_rule: bool
    # v9+: redaction keeps m.room.member content.join_authorised_via_users_server.
    redaction_keeps_authorising_user: bool
    # v10+: the knock_restricted join rule.
    knock_restricted_join_rule: bool
    # v10+: power levels must be integers, never strings.
    integer_only_power_levels: bool
    # v11+: the redaction algorithm of rooms/fragments/v11-redactions.md.
    updated_redaction_rules: bool
    # v11+: the creator is the create event's sender; content.creator is not required.
    implicit_room_creator: bool
    # v11+: m.room.redaction carries content.redacts instead of a top-level redacts.
    redacts_in_content: bool
    # v12+: room ID is the create event's ID with sigil "!"; create has no room_id and is
    # never listed in auth_events.
    room_id_is_create_event_id: bool
    # v12+: "room creators" (create sender + content.additional_creators) have infinite
    # power level and may not appear in m.room.power_levels content.users.
    creators_have_infinite_power: bool

    @property
    def has_domain_event_ids(self) -> bool:
        return self.event_id_format is EventIdFormat.WITH_DOMAIN

    @property
    def create_event_in_auth_events(self) -> bool:
        return not self.room_id_is_create_event_id


V1: Final = RoomVersion(
    identifier="1",
    event_id_format=EventIdFormat.WITH_DOMAIN,
    state_res=StateResVersion.V1,
    redaction_in_auth_rules=True,
    special_case_aliases_auth=True,
    float_power_levels=True,
    enforce_key_validity=False,
    strict_canonical_json=False,
    limit_notifications_power_levels=False,
    knock_join_rule=False,
    restricted_join_rule=False,
    redaction_keeps_authorising_user=False,
    knock_restricted_join_rule=False,
    integer_only_power_levels=False,
    updated_redaction_rules=False,
    implicit_room_creator=False,
    redacts_in_content=False,
    room_id_is_create_event_id=False,
    creators_have_infinite_power=False,
)
V2: Final = replace(V1, identifier="2", state_res=StateResVersion.V2)
V3: Final = replace(
    V2,
    identifier="3",
    event_id_format=EventIdFormat.REFERENCE_HASH,
    redaction_in_auth_rules=False,
)
V4: Final = replace(V3, identifier="4", event_id_format=EventIdFormat.REFERENCE_HASH_URLSAFE)
V5: Final = replace(V4, identifier="5", enforce_key_validity=True)
V6: Final = replace(
    V5,
    identifier="6",
    special_case_aliases_auth=False,
    float_power_levels=False,
    strict_canonical_json=True,
    limit_notifications_power_levels=True,
)
V7: Final = replace(V6, identifier="7", knock_join_rule=True)
V8: Final = replace(V7, identifier="8", restricted_join_rule=True)
V9: Final = replace(V8, identifier="9", redaction_keeps_authorising_user=True)
V10: Final = replace(
    V9, identifier="10", knock_restricted_join_rule=True, integer_only_power_levels=True
)
V11: Final = replace(
    V10,
    identifier="11",
    updated_redaction_rules=True,
    implicit_room_creator=True,
    redacts_in_content=True,
)
V12: Final = replace(
    V11,
    identifier="12",
    state_res=StateResVersion.V2_1,
    room_id_is_create_event_id=True,
    creators_have_infinite_power=True,
)

KNOWN_ROOM_VERSIONS: Final[Mapping[str, RoomVersion]] = MappingProxyType(
    {v.identifier: v for v in (V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12)}
)
# Versions this server offers for new rooms; rooms/_index.md: servers SHOULD default to 12.
CREATABLE_ROOM_VERSIONS: Final = ("10", "11", "12")
DEFAULT_ROOM_VERSION: Final = "12"


def get_room_version(identifier: str) -> RoomVersion:
    """The ``RoomVersion`` for an identifier such as ``"12"``."""
    try:
        return KNOWN_ROOM_VERSIONS[identifier]
    except (KeyError, TypeError):
        raise UnsupportedRoomVersion(f"unknown room version {identifier!r}") from None
