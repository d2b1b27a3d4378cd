"""Pure event-graph algorithms: room versions, canonical JSON, hashing, signing,
redaction, event building, authorisation rules and state resolution.

No I/O, no database, no clocks: everything takes plain dicts (PDUs in federation format)
and callbacks, and returns new values.
"""

from .auth_rules import check_auth, check_auth_events
from .builder import (
    auth_types_for_event,
    auth_types_for_pdu,
    build_event,
    compute_depth,
    select_auth_events,
)
from .canonical import decode_base64, decode_json, encode_base64, encode_canonical_json
from .errors import (
    AuthError,
    EventError,
    EventFormatError,
    SignatureError,
    UnsupportedRoomVersion,
)
from .hashing import (
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    content_hash_matches,
    room_id_for_create_event,
)
from .pdu import auth_event_ids, auth_event_ids_with_create, prev_event_ids, redacts_of
from .redaction import redact_event, redaction_applies
from .room_versions import (
    CREATABLE_ROOM_VERSIONS,
    DEFAULT_ROOM_VERSION,
    KNOWN_ROOM_VERSIONS,
    RoomVersion,
    get_room_version,
)
from .signing import (
    SigningKey,
    add_hashes_and_signatures,
    check_signatures_and_hashes,
    generate_signing_key,
    read_signing_keys,
    required_signature_servers,
    sign_json,
    verify_event_signatures,
    verify_signed_json,
    write_signing_keys,
)
from .state_res import resolve_state
from .validation import validate_event_shape

__all__ = [
    "CREATABLE_ROOM_VERSIONS",
    "DEFAULT_ROOM_VERSION",
    "KNOWN_ROOM_VERSIONS",
    "AuthError",
    "EventError",
    "EventFormatError",
    "RoomVersion",
    "SignatureError",
    "SigningKey",
    "UnsupportedRoomVersion",
    "add_hashes_and_signatures",
    "auth_event_ids",
    "auth_event_ids_with_create",
    "auth_types_for_event",
    "auth_types_for_pdu",
    "build_event",
    "check_auth",
    "check_auth_events",
    "check_signatures_and_hashes",
    "compute_content_hash",
    "compute_depth",
    "compute_event_id",
    "compute_reference_hash",
    "content_hash_matches",
    "decode_base64",
    "decode_json",
    "encode_base64",
    "encode_canonical_json",
    "generate_signing_key",
    "get_room_version",
    "prev_event_ids",
    "read_signing_keys",
    "redact_event",
    "redaction_applies",
    "redacts_of",
    "required_signature_servers",
    "resolve_state",
    "room_id_for_create_event",
    "select_auth_events",
    "sign_json",
    "validate_event_shape",
    "verify_event_signatures",
    "verify_signed_json",
    "write_signing_keys",
]
