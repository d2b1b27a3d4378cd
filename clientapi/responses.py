"""Typed responses: frozen values parsed from the server's JSON, checked on the way in.

Each ``parse_*`` takes the decoded JSON and the request it answers (for the message) and
either returns a value whose fields have the types they say, or raises
``MalformedResponse`` naming the endpoint and the field path. Nothing later in the SDK
has to guess at a server's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from clientapi.errors import MalformedResponse
from clientapi.events import AccountDataEvent, EphemeralEvent, Event, InviteEvent, PresenceEvent, \
    parse_event, parse_presence

T = TypeVar("T")


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedResponse(where, f"expected a JSON object, got {_kind(value)}")
    return value


def get(body: Mapping[str, Any], name: str, kind: type[T], where: str, default: Any = ...) -> T:
    """``body[name]`` checked to be ``kind``; a missing optional field is ``default``."""
    if name not in body or body[name] is None:
        if default is ...:
            raise MalformedResponse(where, f"missing field {name!r}")
        return default  # type: ignore[no-any-return]
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise MalformedResponse(where, f"field {name!r} must be {kind.__name__}, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True, slots=True)
class Session:
    """What a login hands back; everything needed to resume as the same device."""

    user_id: str
    device_id: str
    access_token: str
    refresh_token: str | None = None
    # Wall-clock ms at which the access token expires; None: it does not.
    expires_at_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "device_id": self.device_id, "access_token": self.access_token,
                "refresh_token": self.refresh_token, "expires_at_ms": self.expires_at_ms}

    @classmethod
    def from_json(cls, raw: Any, where: str = "session") -> Session:
        raw = obj(raw, where)
        return cls(get(raw, "user_id", str, where), get(raw, "device_id", str, where),
                   get(raw, "access_token", str, where), get(raw, "refresh_token", str, where, None),
                   get(raw, "expires_at_ms", int, where, None))


def parse_login(body: Any, where: str, now_ms: int) -> Session:
    body = obj(body, where)
    expires_in = get(body, "expires_in_ms", int, where, None)
    return Session(get(body, "user_id", str, where), get(body, "device_id", str, where),
                   get(body, "access_token", str, where), get(body, "refresh_token", str, where, None),
                   now_ms + expires_in if expires_in is not None else None)


def parse_refresh(body: Any, where: str, old: Session, now_ms: int) -> Session:
    body = obj(body, where)
    expires_in = get(body, "expires_in_ms", int, where, None)
    # A server may keep the refresh token (it answers without one): keep using the old.
    return Session(old.user_id, old.device_id, get(body, "access_token", str, where),
                   get(body, "refresh_token", str, where, old.refresh_token),
                   now_ms + expires_in if expires_in is not None else None)


@dataclass(frozen=True, slots=True)
class WhoAmI:
    user_id: str
    device_id: str | None
    is_guest: bool


def parse_whoami(body: Any, where: str) -> WhoAmI:
    body = obj(body, where)
    return WhoAmI(get(body, "user_id", str, where), get(body, "device_id", str, where, None),
                  get(body, "is_guest", bool, where, False))


@dataclass(frozen=True, slots=True)
class Profile:
    displayname: str | None
    avatar_url: str | None
    raw: Mapping[str, Any] = field(repr=False)


def parse_profile(body: Any, where: str) -> Profile:
    body = obj(body, where)
    return Profile(get(body, "displayname", str, where, None), get(body, "avatar_url", str, where, None), body)


@dataclass(frozen=True, slots=True)
class UserSearchResult:
    user_id: str
    display_name: str | None
    avatar_url: str | None


def parse_user_search(body: Any, where: str) -> list[UserSearchResult]:
    body = obj(body, where)
    results = get(body, "results", list, where)
    out = []
    for i, item in enumerate(results):
        item = obj(item, f"{where}: results[{i}]")
        out.append(UserSearchResult(get(item, "user_id", str, where), get(item, "display_name", str, where, None),
                                    get(item, "avatar_url", str, where, None)))
    return out


def parse_event_id(body: Any, where: str) -> str:
    return get(obj(body, where), "event_id", str, where)


def parse_room_id(body: Any, where: str) -> str:
    return get(obj(body, where), "room_id", str, where)


def parse_content_uri(body: Any, where: str) -> str:
    uri = get(obj(body, where), "content_uri", str, where)
    if not uri.startswith("mxc://"):
        raise MalformedResponse(where, f"content_uri is not an mxc:// URI: {uri[:100]!r}")
    return uri


def parse_string_list(body: Any, name: str, where: str) -> list[str]:
    items = get(obj(body, where), name, list, where)
    if not all(isinstance(item, str) for item in items):
        raise MalformedResponse(where, f"{name} must be a list of strings")
    return items


def parse_events(items: Any, room_id: str, where: str) -> tuple[Event, ...]:
    if not isinstance(items, list):
        raise MalformedResponse(where, f"expected a list of events, got {_kind(items)}")
    return tuple(parse_event(raw, room_id, f"{where}[{i}]") for i, raw in enumerate(items))


@dataclass(frozen=True, slots=True)
class Messages:
    """A page of ``/messages``: events in the order asked for, and the token to go on."""

    chunk: tuple[Event, ...]
    start: str
    end: str | None
    state: tuple[Event, ...]


def parse_messages(body: Any, room_id: str, where: str) -> Messages:
    body = obj(body, where)
    return Messages(parse_events(get(body, "chunk", list, where), room_id, f"{where}: chunk"),
                    get(body, "start", str, where), get(body, "end", str, where, None),
                    parse_events(get(body, "state", list, where, []), room_id, f"{where}: state"))


@dataclass(frozen=True, slots=True)
class Media:
    data: bytes
    content_type: str
    filename: str | None


@dataclass(frozen=True, slots=True)
class JoinedRoomUpdate:
    room_id: str
    # State up to the start of the timeline, then the timeline (state events in it too).
    state: tuple[Event, ...]
    timeline: tuple[Event, ...]
    limited: bool
    prev_batch: str | None
    ephemeral: tuple[EphemeralEvent, ...]
    account_data: tuple[AccountDataEvent, ...]
    notification_count: int
    highlight_count: int


@dataclass(frozen=True, slots=True)
class LeftRoomUpdate:
    room_id: str
    state: tuple[Event, ...]
    timeline: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class SyncResponse:
    next_batch: str
    joined: tuple[JoinedRoomUpdate, ...]
    invited: tuple[InviteEvent, ...]
    left: tuple[LeftRoomUpdate, ...]
    account_data: tuple[AccountDataEvent, ...]
    presence: tuple[PresenceEvent, ...]
    to_device: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any] = field(repr=False)


def parse_sync(body: Any, where: str = "GET /sync") -> SyncResponse:
    body = obj(body, where)
    rooms = get(body, "rooms", dict, where, {})
    return SyncResponse(
        next_batch=get(body, "next_batch", str, where),
        joined=tuple(_joined(room_id, obj(raw, f"{where}: rooms.join.{room_id}"), f"{where}: rooms.join.{room_id}")
                     for room_id, raw in get(rooms, "join", dict, where, {}).items()),
        invited=tuple(_invited(room_id, raw, f"{where}: rooms.invite.{room_id}")
                      for room_id, raw in get(rooms, "invite", dict, where, {}).items()),
        left=tuple(_left(room_id, obj(raw, f"{where}: rooms.leave.{room_id}"), f"{where}: rooms.leave.{room_id}")
                   for room_id, raw in get(rooms, "leave", dict, where, {}).items()),
        account_data=_account_data(body, None, f"{where}: account_data"),
        presence=tuple(p for p in (parse_presence(raw) for raw in _events_of(body, "presence", where)) if p),
        to_device=tuple(obj(raw, f"{where}: to_device") for raw in _events_of(body, "to_device", where)),
        raw=body,
    )


def _events_of(section: Mapping[str, Any], name: str, where: str) -> list[Any]:
    """``section[name].events``: the spec's shape for every list of events in /sync."""
    part = get(section, name, dict, where, {})
    return get(part, "events", list, f"{where}: {name}", [])


def _joined(room_id: str, raw: dict[str, Any], where: str) -> JoinedRoomUpdate:
    timeline = get(raw, "timeline", dict, where, {})
    counts = get(raw, "unread_notifications", dict, where, {})
    ephemeral = []
    for i, item in enumerate(_events_of(raw, "ephemeral", where)):
        item = obj(item, f"{where}: ephemeral[{i}]")
        ephemeral.append(EphemeralEvent(get(item, "type", str, where), room_id, get(item, "content", dict, where)))
    return JoinedRoomUpdate(
        room_id=room_id,
        state=parse_events(_events_of(raw, "state", where), room_id, f"{where}: state"),
        timeline=parse_events(get(timeline, "events", list, where, []), room_id, f"{where}: timeline"),
        limited=get(timeline, "limited", bool, where, False),
        prev_batch=get(timeline, "prev_batch", str, where, None),
        ephemeral=tuple(ephemeral),
        account_data=_account_data(raw, room_id, f"{where}: account_data"),
        notification_count=get(counts, "notification_count", int, where, 0),
        highlight_count=get(counts, "highlight_count", int, where, 0),
    )


def _invited(room_id: str, raw: Any, where: str) -> InviteEvent:
    events = _events_of(obj(raw, where), "invite_state", where)
    stripped = tuple(obj(e, f"{where}: invite_state") for e in events)
    inviter, is_direct = "", False
    # Our own m.room.member with membership invite names who invited us (its sender).
    for event in stripped:
        content = event.get("content")
        if event.get("type") == "m.room.member" and isinstance(content, dict) \
                and content.get("membership") == "invite" and isinstance(event.get("sender"), str):
            inviter, is_direct = event["sender"], content.get("is_direct") is True
    return InviteEvent(room_id, inviter, is_direct, stripped)


def _left(room_id: str, raw: dict[str, Any], where: str) -> LeftRoomUpdate:
    timeline = get(raw, "timeline", dict, where, {})
    return LeftRoomUpdate(room_id, parse_events(_events_of(raw, "state", where), room_id, f"{where}: state"),
                          parse_events(get(timeline, "events", list, where, []), room_id, f"{where}: timeline"))


def _account_data(section: Mapping[str, Any], room_id: str | None, where: str) -> tuple[AccountDataEvent, ...]:
    out = []
    for i, item in enumerate(_events_of(section, "account_data", where)):
        item = obj(item, f"{where}[{i}]")
        out.append(AccountDataEvent(get(item, "type", str, where), room_id, get(item, "content", dict, where)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class AdminUser:
    """One entry of Synapse's admin user list (``GET /_synapse/admin/v2/users``)."""

    name: str
    creation_ts: int  # ms
    admin: bool
    deactivated: bool
    is_guest: bool
    user_type: str | None
    displayname: str | None


@dataclass(frozen=True, slots=True)
class AdminUserPage:
    users: tuple[AdminUser, ...]
    # Pass as ``from_token`` for the next page; None on the last.
    next_token: str | None
    total: int | None


def parse_admin_users(body: Any, where: str) -> AdminUserPage:
    body = obj(body, where)
    users = []
    for i, raw in enumerate(get(body, "users", list, where)):
        at = f"{where}: users[{i}]"
        raw = obj(raw, at)
        users.append(AdminUser(
            get(raw, "name", str, at), get(raw, "creation_ts", int, at), _flag(raw, "admin", at),
            _flag(raw, "deactivated", at), _flag(raw, "is_guest", at), get(raw, "user_type", str, at, None),
            get(raw, "displayname", str, at, None),
        ))
    # Synapse sends next_token as a string offset; accept a number too.
    token = body.get("next_token")
    if token is not None and not isinstance(token, (str, int)) or isinstance(token, bool):
        raise MalformedResponse(where, "next_token must be a string")
    return AdminUserPage(tuple(users), None if token is None else str(token), get(body, "total", int, where, None))


def _flag(raw: Mapping[str, Any], name: str, where: str) -> bool:
    # Older Synapse versions send 0/1 for these.
    value = raw.get(name, False)
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise MalformedResponse(where, f"field {name!r} must be a boolean")
