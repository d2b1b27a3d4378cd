"""Request builders: rooms, membership, sending, history, receipts, typing, reports
(spec: client-server API "Rooms", "Room membership", "Events", "Receipts",
"Typing notifications", "Reporting content")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from clientapi.api.request import CLIENT_V3, Request, compact, path, query


def create_room(body: dict[str, Any]) -> Request:
    """POST /_matrix/client/v3/createRoom (not idempotent: a retry could make two rooms)."""
    return Request("POST", CLIENT_V3 + "/createRoom", json=body, idempotent=False, limit_key="create_room")


def join(room_id_or_alias: str, via: Sequence[str] = (), reason: str | None = None) -> Request:
    """POST /_matrix/client/v3/join/{roomIdOrAlias}?via=... (joining twice is joining once)."""
    return Request("POST", path(CLIENT_V3 + "/join/{}", room_id_or_alias),
                   query=tuple(("via", server) for server in via), json=compact(reason=reason), limit_key="join")


def leave(room_id: str, reason: str | None = None) -> Request:
    """POST /_matrix/client/v3/rooms/{roomId}/leave"""
    return Request("POST", path(CLIENT_V3 + "/rooms/{}/leave", room_id), json=compact(reason=reason))


def forget(room_id: str) -> Request:
    """POST /_matrix/client/v3/rooms/{roomId}/forget"""
    return Request("POST", path(CLIENT_V3 + "/rooms/{}/forget", room_id), json={})


def membership(action: str, room_id: str, user_id: str, reason: str | None = None) -> Request:
    """POST /_matrix/client/v3/rooms/{roomId}/{invite|kick|ban|unban}.

    Not idempotent: repeating an invite or a kick that took effect is refused.
    """
    if action not in ("invite", "kick", "ban", "unban"):
        raise ValueError(f"not a membership action: {action!r}")
    return Request("POST", path(CLIENT_V3 + "/rooms/{}/" + action, room_id),
                   json=compact(user_id=user_id, reason=reason), idempotent=False, limit_key=action)


def send_event(room_id: str, event_type: str, content: dict[str, Any], txn_id: str) -> Request:
    """PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"""
    return Request("PUT", path(CLIENT_V3 + "/rooms/{}/send/{}/{}", room_id, event_type, txn_id), json=content,
                   limit_key="send")


def send_state(room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> Request:
    """PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"""
    return Request("PUT", path(CLIENT_V3 + "/rooms/{}/state/{}/{}", room_id, event_type, state_key), json=content,
                   limit_key="send")


def get_state(room_id: str) -> Request:
    """GET /_matrix/client/v3/rooms/{roomId}/state"""
    return Request("GET", path(CLIENT_V3 + "/rooms/{}/state", room_id))


def get_state_event(room_id: str, event_type: str, state_key: str = "") -> Request:
    """GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"""
    return Request("GET", path(CLIENT_V3 + "/rooms/{}/state/{}/{}", room_id, event_type, state_key))


def get_event(room_id: str, event_id: str) -> Request:
    """GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}"""
    return Request("GET", path(CLIENT_V3 + "/rooms/{}/event/{}", room_id, event_id))


def redact(room_id: str, event_id: str, txn_id: str, reason: str | None = None) -> Request:
    """PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}"""
    return Request("PUT", path(CLIENT_V3 + "/rooms/{}/redact/{}/{}", room_id, event_id, txn_id),
                   json=compact(reason=reason), limit_key="send")


def messages(
    room_id: str, *, from_token: str | None = None, direction: str = "b", limit: int = 50,
    to_token: str | None = None, filter: dict[str, Any] | None = None,
) -> Request:
    """GET /_matrix/client/v3/rooms/{roomId}/messages"""
    if direction not in ("b", "f"):
        raise ValueError("direction must be 'b' or 'f'")
    return Request("GET", path(CLIENT_V3 + "/rooms/{}/messages", room_id), query=query(
        dir=direction, limit=limit, to=to_token, filter=json.dumps(filter) if filter else None,
        **{"from": from_token},
    ))


def members(room_id: str, membership: str | None = None) -> Request:
    """GET /_matrix/client/v3/rooms/{roomId}/members"""
    return Request("GET", path(CLIENT_V3 + "/rooms/{}/members", room_id), query=query(membership=membership))


def joined_members(room_id: str) -> Request:
    """GET /_matrix/client/v3/rooms/{roomId}/joined_members"""
    return Request("GET", path(CLIENT_V3 + "/rooms/{}/joined_members", room_id))


def joined_rooms() -> Request:
    """GET /_matrix/client/v3/joined_rooms"""
    return Request("GET", CLIENT_V3 + "/joined_rooms")


def receipt(room_id: str, event_id: str, receipt_type: str = "m.read", thread_id: str | None = None) -> Request:
    """POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"""
    return Request("POST", path(CLIENT_V3 + "/rooms/{}/receipt/{}/{}", room_id, receipt_type, event_id),
                   json=compact(thread_id=thread_id))


def read_markers(room_id: str, fully_read: str, read: str | None = None) -> Request:
    """POST /_matrix/client/v3/rooms/{roomId}/read_markers"""
    return Request("POST", path(CLIENT_V3 + "/rooms/{}/read_markers", room_id),
                   json=compact(**{"m.fully_read": fully_read, "m.read": read}))


def typing(room_id: str, user_id: str, typing: bool, timeout_ms: int = 30_000) -> Request:
    """PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}"""
    body: dict[str, Any] = {"typing": typing}
    if typing:
        body["timeout"] = timeout_ms
    return Request("PUT", path(CLIENT_V3 + "/rooms/{}/typing/{}", room_id, user_id), json=body)


def report_event(room_id: str, event_id: str, reason: str | None = None, score: int | None = None) -> Request:
    """POST /_matrix/client/v3/rooms/{roomId}/report/{eventId} (not idempotent: two reports)."""
    return Request("POST", path(CLIENT_V3 + "/rooms/{}/report/{}", room_id, event_id),
                   json=compact(reason=reason, score=score), idempotent=False, limit_key="report")
