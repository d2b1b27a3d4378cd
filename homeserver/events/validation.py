"""Event format validation (server-server-api.md "Checks performed on receipt of a PDU",
check 1; the PDU schemas pdu_v1 .. pdu_v12; client-server-api "Size limits").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from .canonical import check_canonical_json_values, encode_canonical_json
from .constants import (
    CANONICALJSON_MAX_INT,
    CREATE,
    MAX_AUTH_EVENTS,
    MAX_DEPTH_BEFORE_V6,
    MAX_ID_BYTES,
    MAX_PDU_SIZE,
    MAX_PREV_EVENTS,
    MEMBER,
    POWER_LEVELS,
)
from .errors import EventFormatError
from .ids import is_valid_event_id, is_valid_room_id, is_valid_user_id
from .power_levels import LEVEL_PROPERTIES
from .room_versions import RoomVersion


def validate_event_shape(
    room_version: RoomVersion, event: Any, *, check_content: bool = True
) -> None:
    """Raise ``EventFormatError`` unless ``event`` is a well-formed PDU of this room version.

    With ``check_content`` (the default, right for events built locally or sent by
    clients) the content rules the auth rules would reject are also enforced: an
    ``m.room.member`` needs ``membership``, and from v10 power levels must be integers.
    Pass ``check_content=False`` for PDUs received over federation: the spec *rejects*
    such events under the auth rules rather than dropping them.
    """
    if not isinstance(event, Mapping):
        raise EventFormatError("an event must be a JSON object")
    if room_version.strict_canonical_json:  # v6: "Servers MUST strictly enforce the JSON format"
        check_canonical_json_values(event)
    if len(encode_canonical_json(event)) > MAX_PDU_SIZE:
        raise EventFormatError(f"event is larger than {MAX_PDU_SIZE} bytes")
    _check_top_level(room_version, event)
    _check_references(room_version, event, "prev_events", MAX_PREV_EVENTS)
    _check_references(room_version, event, "auth_events", MAX_AUTH_EVENTS)
    if check_content:
        _check_content(room_version, event)


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise EventFormatError(reason)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _short_string(value: Any) -> bool:
    return isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES


def _check_top_level(room_version: RoomVersion, event: Mapping[str, Any]) -> None:
    _require(_short_string(event.get("type")), "type must be a string of at most 255 bytes")
    _require(is_valid_user_id(event.get("sender")), "sender must be a valid user ID")
    _require(_is_int(event.get("origin_server_ts")), "origin_server_ts must be an integer")
    _require(isinstance(event.get("content"), Mapping), "content must be an object")
    max_depth = CANONICALJSON_MAX_INT if room_version.strict_canonical_json else MAX_DEPTH_BEFORE_V6
    depth = event.get("depth")
    _require(_is_int(depth) and 0 <= depth <= max_depth, "depth must be a non-negative integer")
    hashes = event.get("hashes")
    _require(
        isinstance(hashes, Mapping) and isinstance(hashes.get("sha256"), str),
        "hashes must be an object with a sha256 string",
    )
    _check_signatures(event.get("signatures"))
    if "state_key" in event:
        _require(
            _short_string(event["state_key"]), "state_key must be a string of at most 255 bytes"
        )
    if "unsigned" in event:
        _require(isinstance(event["unsigned"], Mapping), "unsigned must be an object")
    if room_version.has_domain_event_ids:
        _require(
            is_valid_event_id(event.get("event_id"), with_domain=True),
            "event_id must be a valid event ID with a domain",
        )
    # pdu_v12.yaml: room_id is omitted from m.room.create; auth rule 1.2 rejects it if present.
    if not (room_version.room_id_is_create_event_id and event.get("type") == CREATE):
        _require(
            is_valid_room_id(
                event.get("room_id"), hash_based=room_version.room_id_is_create_event_id
            ),
            "room_id must be a valid room ID for this room version",
        )


def _check_signatures(signatures: Any) -> None:
    _require(isinstance(signatures, Mapping), "signatures must be an object")
    for server_signatures in signatures.values():
        _require(
            isinstance(server_signatures, Mapping)
            and all(isinstance(sig, str) for sig in server_signatures.values()),
            "signatures must map server names to objects of strings",
        )


def _check_references(
    room_version: RoomVersion, event: Mapping[str, Any], key: str, limit: int
) -> None:
    references = event.get(key)
    if not isinstance(references, list):
        raise EventFormatError(f"{key} must be a list")
    _require(len(references) <= limit, f"{key} must contain at most {limit} events")
    with_domain = room_version.has_domain_event_ids
    for reference in references:
        if with_domain:  # pdu_v1.yaml: [event_id, {hashes}] pairs
            _require(
                isinstance(reference, list)
                and len(reference) == 2
                and isinstance(reference[1], Mapping),
                f"{key} entries must be [event_id, hashes] pairs",
            )
            reference = reference[0]
        _require(
            is_valid_event_id(reference, with_domain=with_domain),
            f"{key} contains an invalid event ID",
        )


def _check_content(room_version: RoomVersion, event: Mapping[str, Any]) -> None:
    content = event["content"]
    if event["type"] == MEMBER:
        _require("state_key" in event, "m.room.member events need a state_key")
        _require(
            isinstance(content.get("membership"), str), "m.room.member content needs a membership"
        )
    if event["type"] == POWER_LEVELS and room_version.integer_only_power_levels:
        for name in LEVEL_PROPERTIES:
            if name in content:
                _require(_is_int(content[name]), f"power level {name} must be an integer")
        for name in ("events", "notifications", "users"):
            if name in content:
                levels = content[name]
                _require(
                    isinstance(levels, Mapping) and all(_is_int(v) for v in levels.values()),
                    f"power levels {name} must map to integers",
                )
