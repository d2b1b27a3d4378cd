"""Identifier grammar checks (appendices.md "Identifier Grammar")."""

from __future__ import annotations

import re

from .constants import MAX_ID_BYTES

# appendices.md "Server Name": hostname [ ":" port ]; hostname is an IPv4 literal, a
# bracketed IPv6 literal or a DNS name (an IPv4 literal also matches the DNS name rule).
_SERVER_NAME = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::[0-9]{1,5})?")
# appendices.md "Historical User IDs": servers MUST accept localparts of any non-surrogate
# codepoints except ":" and NUL, including the empty string, for events over federation.
_HISTORICAL_LOCALPART = re.compile(r"[^:\x00\ud800-\udfff]*")
# appendices.md "Room IDs" (v12): the create event's ID; a URL-safe Base64 SHA-256.
_HASH_ROOM_ID = re.compile(r"![A-Za-z0-9_-]{43}")


def is_valid_server_name(server_name: object) -> bool:
    return isinstance(server_name, str) and _SERVER_NAME.fullmatch(server_name) is not None


def _byte_length(identifier: str) -> int:
    return len(identifier.encode("utf-8", "surrogatepass"))


def is_valid_user_id(user_id: object) -> bool:
    """``@localpart:server_name``, at most 255 bytes, accepting historical localparts."""
    if not isinstance(user_id, str) or not user_id.startswith("@"):
        return False
    if _byte_length(user_id) > MAX_ID_BYTES:
        return False
    localpart, sep, server_name = user_id[1:].partition(":")
    if not sep or not is_valid_server_name(server_name):
        return False
    return _HISTORICAL_LOCALPART.fullmatch(localpart) is not None


def is_valid_room_id(room_id: object, *, hash_based: bool) -> bool:
    """``!opaque_id:domain`` before room version 12, ``!<43 URL-safe Base64>`` from v12."""
    if not isinstance(room_id, str) or not room_id.startswith("!"):
        return False
    if hash_based:
        return _HASH_ROOM_ID.fullmatch(room_id) is not None
    localpart, sep, server_name = room_id[1:].partition(":")
    return (
        bool(sep)
        and "\x00" not in localpart
        and is_valid_server_name(server_name)
        and _byte_length(room_id) <= MAX_ID_BYTES
    )


def is_valid_event_id(event_id: object, *, with_domain: bool) -> bool:
    """``$opaque_id:domain`` in room versions 1-2, otherwise ``$`` and a hash."""
    if not isinstance(event_id, str) or not event_id.startswith("$") or len(event_id) < 2:
        return False
    if _byte_length(event_id) > MAX_ID_BYTES:
        return False
    if with_domain:
        _, sep, server_name = event_id[1:].partition(":")
        return bool(sep) and is_valid_server_name(server_name)
    return True


def domain_of(identifier: str) -> str:
    """The server name of ``@user:domain``, ``!room:domain`` or ``$event:domain``.

    Raises ``ValueError`` for identifiers without a domain.
    """
    _, sep, server_name = identifier.partition(":")
    if not sep or not server_name:
        raise ValueError(f"{identifier!r} has no domain")
    return server_name
