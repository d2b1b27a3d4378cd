"""The authorisation rules (rooms/fragments/v1-, v3-, v8-auth-rules.md, rooms/v10.md,
rooms/v11.md, rooms/v12.md "Authorisation rules"; server-server-api.md "Definitions").

Two entry points, as the checks on receipt of a PDU use them:

* ``check_auth_events(room_version, event, auth_events)``: the rules "considering the
  event's auth_events" (rule 2, or 3 in v12) against the fetched, non-rejected auth events.
* ``check_auth(room_version, event, auth_state)``: every other rule, against a state map
  ``{(type, state_key): event}``: the auth events (check 4), the state before the event
  (check 5) or the current state (check 6, soft failure). ``auth_state`` must hold only
  accepted events; in room version 12 it must hold the create event implied by
  ``room_id`` even though ``auth_events`` does not list it.

Signatures are not checked here: ``signing.required_signature_servers`` covers the
server of ``join_authorised_via_users_server`` (rule 4.2, 5.2 in v12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .builder import auth_types_for_pdu
from .canonical import decode_base64
from .constants import (
    ALIASES,
    AUTHORISING_USER,
    BAN,
    CREATE,
    CREATE_KEY,
    INVITE,
    JOIN,
    JOIN_RULES_KEY,
    KNOCK,
    KNOCK_RESTRICTED,
    LEAVE,
    MEMBER,
    POWER_LEVELS,
    PUBLIC,
    REDACTION,
    RESTRICTED,
    THIRD_PARTY_INVITE,
)
from .errors import AuthError, SignatureError
from .hashing import compute_event_id, room_id_for_create_event
from .ids import domain_of, is_valid_user_id
from .pdu import Event, content_of, is_state_event, membership_of, prev_event_ids, state_key_of
from .power_levels import (
    AuthState,
    check_power_levels_event,
    named_level,
    required_power_level,
    user_power_level,
)
from .room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from .signing import ED25519, verify_signed_json


def check_auth_events(
    room_version: RoomVersion, event: Event, auth_events: Sequence[Event]
) -> None:
    """Rule 2 (v12: rule 3), "Considering the event's auth_events".

    ``auth_events`` are the events ``event["auth_events"]`` lists. Sub-rule 3 (no auth
    event was itself rejected) is the caller's: pass only what it has and knows accepted.
    """
    if event.get("type") == CREATE:
        return  # rule 1 decides create events before auth_events are considered
    allowed = auth_types_for_pdu(room_version, event)
    seen = set()
    for auth_event in auth_events:
        if not is_state_event(auth_event):
            raise AuthError("auth_events contains a non-state event")
        key = state_key_of(auth_event)
        if key in seen:
            raise AuthError(f"auth_events has duplicate entries for {key}")  # 2.1
        if key not in allowed:
            raise AuthError(f"auth_events contains unexpected {key}")  # 2.2 (v12: no create)
        if auth_event.get("room_id") != event.get("room_id"):
            raise AuthError("an auth event belongs to a different room")  # 2.5
        seen.add(key)
    if room_version.create_event_in_auth_events and CREATE_KEY not in seen:
        raise AuthError("auth_events has no m.room.create event")  # 2.4


def check_auth(room_version: RoomVersion, event: Event, auth_state: AuthState) -> None:
    """Raise ``AuthError`` unless ``event`` is allowed in ``auth_state``."""
    event_type = event.get("type")
    sender = event.get("sender")
    if not isinstance(event_type, str) or not isinstance(sender, str):
        raise AuthError("event has no type or no sender")
    if event_type == CREATE:
        _check_create(room_version, event)
        return
    create_event = auth_state.get(CREATE_KEY)
    if create_event is None:
        raise AuthError("no m.room.create event in the room state")
    if room_version.room_id_is_create_event_id:
        _check_room_id(room_version, event, create_event)
    _check_federation_allowed(sender, create_event)
    if event_type == ALIASES and room_version.special_case_aliases_auth:
        _check_aliases(event, sender)
        return
    if event_type == MEMBER:
        _check_membership(room_version, event, sender, auth_state, create_event)
        return
    if _membership(auth_state, sender) != JOIN:  # rule 6 (v12)
        raise AuthError(f"{sender} is not joined to the room")
    sender_level = user_power_level(room_version, sender, auth_state)
    if event_type == THIRD_PARTY_INVITE:  # rule 7
        if sender_level < named_level(room_version, auth_state, "invite"):
            raise AuthError(f"{sender} does not have the invite level")
        return
    required = required_power_level(room_version, event_type, is_state_event(event), auth_state)
    if sender_level < required:  # rule 8
        raise AuthError(f"{sender} needs power level {required} to send {event_type}")
    state_key = event.get("state_key")
    if isinstance(state_key, str) and state_key.startswith("@") and state_key != sender:
        raise AuthError("state_key starting with @ must be the sender")  # rule 9
    if event_type == POWER_LEVELS:  # rule 10
        check_power_levels_event(room_version, event, auth_state, sender_level)
    elif event_type == REDACTION and room_version.redaction_in_auth_rules:
        _check_redaction_v1(room_version, event, sender_level, auth_state)


def _check_create(room_version: RoomVersion, event: Event) -> None:
    """Rule 1."""
    content = content_of(event)
    if event.get("prev_events"):
        raise AuthError("m.room.create must not have prev_events")
    if room_version.room_id_is_create_event_id:
        if "room_id" in event:
            raise AuthError("m.room.create must not have a room_id in this room version")
    elif not _same_domain(event.get("room_id"), event["sender"]):
        raise AuthError("m.room.create room_id and sender domains differ")
    room_version_id = content.get("room_version", room_version.identifier)
    if not isinstance(room_version_id, str) or room_version_id not in KNOWN_ROOM_VERSIONS:
        raise AuthError(f"unknown room version {room_version_id!r}")
    if not room_version.implicit_room_creator and "creator" not in content:
        raise AuthError("m.room.create has no creator")  # v1-10 only
    if room_version.creators_have_infinite_power and "additional_creators" in content:
        additional = content["additional_creators"]
        if not isinstance(additional, list) or not all(is_valid_user_id(u) for u in additional):
            raise AuthError("additional_creators must be an array of user IDs")


def _check_room_id(room_version: RoomVersion, event: Event, create_event: Event) -> None:
    """Rule 2 of v12: the room ID is the create event's ID with sigil ``!``."""
    if event.get("room_id") != room_id_for_create_event(room_version, create_event):
        raise AuthError("room_id is not the ID of the room's m.room.create event")


def _check_federation_allowed(sender: str, create_event: Event) -> None:
    """Rule 3 (v12: 4): ``m.federate: false`` keeps other servers out."""
    federate = content_of(create_event).get("m.federate")
    if federate is False and not _same_domain(sender, create_event.get("sender")):
        raise AuthError("the room does not allow federation")


def _check_aliases(event: Event, sender: str) -> None:
    """Rule 4 of room versions 1-5 (v1-auth-rules.md)."""
    if "state_key" not in event:
        raise AuthError("m.room.aliases needs a state_key")
    if _domain(sender) != event["state_key"]:
        raise AuthError("m.room.aliases state_key must be the sender's server")


def _check_redaction_v1(
    room_version: RoomVersion, event: Event, sender_level: float, auth_state: AuthState
) -> None:
    """Rule 11 of room versions 1 and 2 (v1-auth-rules.md)."""
    if sender_level >= named_level(room_version, auth_state, "redact"):
        return
    if not _same_domain(event.get("redacts"), event.get("event_id")):
        raise AuthError("cannot redact an event from another server without the redact level")


def _domain(identifier: Any) -> str | None:
    try:
        return domain_of(identifier)
    except (ValueError, AttributeError):
        return None


def _same_domain(first: Any, second: Any) -> bool:
    domain = _domain(first)
    return domain is not None and domain == _domain(second)


def _membership(auth_state: AuthState, user_id: str) -> str | None:
    """The user's current membership; None if they have no m.room.member event."""
    member_event = auth_state.get((MEMBER, user_id))
    return None if member_event is None else membership_of(member_event)


def _join_rule(auth_state: AuthState) -> str:
    # The spec leaves the join rule without an m.room.join_rules event unstated; like
    # Synapse we read it as "invite" (so only the creator's join and invitees pass).
    join_rules = auth_state.get(JOIN_RULES_KEY)
    rule = content_of(join_rules).get("join_rule") if join_rules is not None else None
    return rule if isinstance(rule, str) else INVITE


def _check_membership(
    room_version: RoomVersion, event: Event, sender: str, auth_state: AuthState, create_event: Event
) -> None:
    """Rule 4 (v1-5: 5; v12: 5)."""
    content = content_of(event)
    target = event.get("state_key")
    membership = content.get("membership")
    if not isinstance(target, str) or not isinstance(membership, str):
        raise AuthError("m.room.member needs a state_key and a membership")  # 4.1
    if room_version.restricted_join_rule and AUTHORISING_USER in content:
        _check_authorising_server_signed(event, content[AUTHORISING_USER])  # 4.2
    if membership == JOIN:
        _check_join(room_version, event, sender, target, auth_state, create_event)
    elif membership == INVITE:
        _check_invite(room_version, event, sender, target, auth_state)
    elif membership == LEAVE:
        _check_leave(room_version, sender, target, auth_state)
    elif membership == BAN:
        _check_ban(room_version, sender, target, auth_state)
    elif membership == KNOCK and room_version.knock_join_rule:
        _check_knock(room_version, sender, target, auth_state)
    else:
        raise AuthError(f"unknown membership {membership!r}")


def _check_authorising_server_signed(event: Event, authorising_user: Any) -> None:
    # The cryptographic check is signing.verify_event_signatures (required_signature_servers
    # lists this server); here only its presence, so that no unsigned event slips through.
    if not is_valid_user_id(authorising_user):
        raise AuthError(f"{AUTHORISING_USER} is not a user ID")
    signatures = event.get("signatures")
    if not isinstance(signatures, Mapping) or domain_of(authorising_user) not in signatures:
        raise AuthError("the join is not signed by the authorising user's server")


def _is_creators_first_join(
    room_version: RoomVersion, event: Event, target: str, create_event: Event
) -> bool:
    """4.3.1: the only prev_event is the create event and the target is the creator."""
    prev_events = prev_event_ids(event)
    if room_version.implicit_room_creator:
        creator = create_event.get("sender")  # v11+: "the sender of the m.room.create"
    else:
        creator = content_of(create_event).get("creator")
    return (
        len(prev_events) == 1
        and target == creator
        and prev_events[0] == compute_event_id(room_version, create_event)
    )


def _check_join(
    room_version: RoomVersion,
    event: Event,
    sender: str,
    target: str,
    auth_state: AuthState,
    create_event: Event,
) -> None:
    """4.3 (v12: 5.3)."""
    if _is_creators_first_join(room_version, event, target, create_event):
        return
    if sender != target:
        raise AuthError("cannot make another user join")
    membership = _membership(auth_state, target)
    if membership == BAN:
        raise AuthError(f"{target} is banned from the room")
    join_rule = _join_rule(auth_state)
    if join_rule == INVITE or (join_rule == KNOCK and room_version.knock_join_rule):
        if membership in (INVITE, JOIN):
            return
        raise AuthError(f"{target} is not invited to the room")
    if (join_rule == RESTRICTED and room_version.restricted_join_rule) or (
        join_rule == KNOCK_RESTRICTED and room_version.knock_restricted_join_rule
    ):
        if membership in (INVITE, JOIN):
            return
        _check_authorising_user(room_version, content_of(event).get(AUTHORISING_USER), auth_state)
        return
    if join_rule == PUBLIC:
        return
    raise AuthError(f"join rule {join_rule!r} does not allow {target} to join")


def _check_authorising_user(
    room_version: RoomVersion, authorising_user: Any, auth_state: AuthState
) -> None:
    """4.3.5.2: a joined member who can invite must have authorised the restricted join."""
    if not isinstance(authorising_user, str):
        raise AuthError(f"a restricted join needs {AUTHORISING_USER}")
    if _membership(auth_state, authorising_user) != JOIN:
        raise AuthError(f"{authorising_user} is not joined to the room")
    invite_level = named_level(room_version, auth_state, "invite")
    if user_power_level(room_version, authorising_user, auth_state) < invite_level:
        raise AuthError(f"{authorising_user} cannot invite users")


def _check_invite(
    room_version: RoomVersion, event: Event, sender: str, target: str, auth_state: AuthState
) -> None:
    """4.4 (v12: 5.4)."""
    content = content_of(event)
    if "third_party_invite" in content:
        _check_third_party_invite(event, sender, target, content["third_party_invite"], auth_state)
        return
    if _membership(auth_state, sender) != JOIN:
        raise AuthError(f"{sender} is not joined to the room")
    if _membership(auth_state, target) in (JOIN, BAN):
        raise AuthError(f"{target} is already joined or banned")
    if user_power_level(room_version, sender, auth_state) < named_level(
        room_version, auth_state, "invite"
    ):
        raise AuthError(f"{sender} does not have the invite level")


def _check_third_party_invite(
    event: Event, sender: str, target: str, third_party_invite: Any, auth_state: AuthState
) -> None:
    """4.4.1: the invite redeems an m.room.third_party_invite signed by its identity server."""
    if _membership(auth_state, target) == BAN:
        raise AuthError(f"{target} is banned from the room")
    signed = third_party_invite.get("signed") if isinstance(third_party_invite, Mapping) else None
    if not isinstance(signed, Mapping):
        raise AuthError("third_party_invite has no signed object")
    if "mxid" not in signed or "token" not in signed:
        raise AuthError("third_party_invite.signed needs mxid and token")
    if signed["mxid"] != target:
        raise AuthError("third_party_invite.signed.mxid is not the state_key")
    token = signed["token"]
    invite_event = auth_state.get((THIRD_PARTY_INVITE, token)) if isinstance(token, str) else None
    if invite_event is None:
        raise AuthError("no m.room.third_party_invite matches the token")
    if invite_event.get("sender") != sender:
        raise AuthError("the third-party invite was sent by someone else")
    if not _signed_by_any_key(signed, _third_party_public_keys(content_of(invite_event))):
        raise AuthError("third_party_invite.signed is not signed by the invite's keys")


def _third_party_public_keys(content: Mapping[str, Any]) -> list[bytes]:
    encoded = [content.get("public_key")]
    public_keys = content.get("public_keys")
    if isinstance(public_keys, list):
        encoded.extend(k.get("public_key") for k in public_keys if isinstance(k, Mapping))
    keys = []
    for key in encoded:
        try:
            if isinstance(key, str):
                keys.append(decode_base64(key))
        except ValueError:
            continue  # not Base64
    return keys


def _signed_by_any_key(signed: Mapping[str, Any], public_keys: list[bytes]) -> bool:
    """4.4.1.7: "If any signature in signed matches any public key ... allow"."""
    signatures = signed.get("signatures")
    if not isinstance(signatures, Mapping):
        return False
    for server_name, server_signatures in signatures.items():
        if not isinstance(server_signatures, Mapping):
            continue
        for key_id in server_signatures:
            if not key_id.startswith(ED25519 + ":"):
                continue
            for public_key in public_keys:
                try:
                    verify_signed_json(signed, server_name, {key_id: public_key})
                    return True
                except SignatureError:
                    continue
    return False


def _check_leave(
    room_version: RoomVersion, sender: str, target: str, auth_state: AuthState
) -> None:
    """4.5 (v12: 5.5)."""
    sender_membership = _membership(auth_state, sender)
    if sender == target:
        may_leave = {INVITE, JOIN, KNOCK} if room_version.knock_join_rule else {INVITE, JOIN}
        if sender_membership not in may_leave:
            raise AuthError(f"{sender} cannot leave: membership is {sender_membership}")
        return
    if sender_membership != JOIN:
        raise AuthError(f"{sender} is not joined to the room")
    sender_level = user_power_level(room_version, sender, auth_state)
    if _membership(auth_state, target) == BAN and sender_level < named_level(
        room_version, auth_state, "ban"
    ):
        raise AuthError(f"{sender} does not have the ban level needed to unban")
    if sender_level < named_level(room_version, auth_state, "kick"):
        raise AuthError(f"{sender} does not have the kick level")
    if user_power_level(room_version, target, auth_state) >= sender_level:
        raise AuthError(f"{sender} cannot kick a user with an equal or higher power level")


def _check_ban(room_version: RoomVersion, sender: str, target: str, auth_state: AuthState) -> None:
    """4.6 (v12: 5.6)."""
    if _membership(auth_state, sender) != JOIN:
        raise AuthError(f"{sender} is not joined to the room")
    sender_level = user_power_level(room_version, sender, auth_state)
    if sender_level < named_level(room_version, auth_state, "ban"):
        raise AuthError(f"{sender} does not have the ban level")
    if user_power_level(room_version, target, auth_state) >= sender_level:
        raise AuthError(f"{sender} cannot ban a user with an equal or higher power level")


def _check_knock(
    room_version: RoomVersion, sender: str, target: str, auth_state: AuthState
) -> None:
    """4.7 (v12: 5.7), room versions 7 and later."""
    knockable = {KNOCK, KNOCK_RESTRICTED} if room_version.knock_restricted_join_rule else {KNOCK}
    if _join_rule(auth_state) not in knockable:
        raise AuthError("the join rule does not allow knocking")
    if sender != target:
        raise AuthError("cannot knock on behalf of another user")
    if _membership(auth_state, sender) in (BAN, INVITE, JOIN):
        raise AuthError(f"{sender} cannot knock: already banned, invited or joined")
