"""Typed events: a frozen class per common event type, each with its raw JSON at hand.

``parse_event`` checks the fields the spec requires of every event the server sends
(``type``, ``sender``, ``event_id``, ``origin_server_ts``, ``content``) and raises
``MalformedResponse`` if one is missing or of the wrong type: that is a broken server.
Content is written by other users, so odd content never raises: an ``m.room.message``
without a string ``body`` is still delivered, as a plain ``Event``, because the typed
class promises its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clientapi.content import HTML_FORMAT, mentions_in, strip_reply_fallback
from clientapi.errors import MalformedResponse


@dataclass(frozen=True, slots=True)
class Event:
    """Any room event. ``raw`` is the event exactly as the server sent it."""

    type: str
    room_id: str
    sender: str
    event_id: str
    origin_server_ts: int
    content: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def state_key(self) -> str | None:
        key = self.raw.get("state_key")
        return key if isinstance(key, str) else None

    @property
    def unsigned(self) -> Mapping[str, Any]:
        unsigned = self.raw.get("unsigned")
        return unsigned if isinstance(unsigned, dict) else {}

    @property
    def relates_to(self) -> Mapping[str, Any]:
        relates = self.content.get("m.relates_to")
        return relates if isinstance(relates, dict) else {}

    @property
    def redacted(self) -> bool:
        return "redacted_because" in self.unsigned


@dataclass(frozen=True, slots=True)
class MessageEvent(Event):
    """``m.room.message``: text, notices, emotes, and media (``url`` set)."""

    msgtype: str = ""
    body: str = ""

    @property
    def formatted_body(self) -> str | None:
        value = self.content.get("formatted_body")
        return value if self.content.get("format") == HTML_FORMAT and isinstance(value, str) else None

    @property
    def text(self) -> str:
        """The body without an old-style reply fallback: what the sender typed."""
        return strip_reply_fallback(self.body) if self.in_reply_to else self.body

    @property
    def url(self) -> str | None:
        value = self.content.get("url")
        return value if isinstance(value, str) else None

    @property
    def in_reply_to(self) -> str | None:
        reply = self.relates_to.get("m.in_reply_to")
        event_id = reply.get("event_id") if isinstance(reply, dict) else None
        return event_id if isinstance(event_id, str) else None

    @property
    def replaces(self) -> str | None:
        """The event this one edits (``m.replace``), if it is an edit."""
        return _related(self.relates_to, "m.replace")

    @property
    def new_content(self) -> Mapping[str, Any] | None:
        new = self.content.get("m.new_content")
        return new if self.replaces and isinstance(new, dict) else None

    @property
    def thread_root(self) -> str | None:
        return _related(self.relates_to, "m.thread")

    @property
    def mentions(self) -> list[str]:
        return list(mentions_in(dict(self.content)))


@dataclass(frozen=True, slots=True)
class ReactionEvent(Event):
    """``m.reaction``: an annotation ``key`` on ``reacts_to``."""

    reacts_to: str = ""
    key: str = ""


@dataclass(frozen=True, slots=True)
class RedactionEvent(Event):
    """``m.room.redaction`` of ``redacts`` (in content since room v11, top level before)."""

    redacts: str = ""


@dataclass(frozen=True, slots=True)
class StateEvent(Event):
    """A state event of a type without a class of its own."""


@dataclass(frozen=True, slots=True)
class MemberEvent(StateEvent):
    """``m.room.member``: ``user_id`` (the state key) now has ``membership``."""

    user_id: str = ""
    membership: str = ""

    @property
    def displayname(self) -> str | None:
        name = self.content.get("displayname")
        return name if isinstance(name, str) else None

    @property
    def is_direct(self) -> bool:
        return self.content.get("is_direct") is True

    @property
    def prev_membership(self) -> str | None:
        prev = self.unsigned.get("prev_content")
        value = prev.get("membership") if isinstance(prev, dict) else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class InviteEvent:
    """We were invited to ``room_id`` by ``sender`` (from /sync ``rooms.invite``).

    ``state`` is the stripped state the inviter's server shared (name, join rules...).
    """

    room_id: str
    sender: str
    is_direct: bool
    state: tuple[Mapping[str, Any], ...] = field(repr=False)

    @property
    def room_name(self) -> str | None:
        for event in self.state:
            name = event.get("content", {}).get("name") if event.get("type") == "m.room.name" else None
            if isinstance(name, str):
                return name
        return None


@dataclass(frozen=True, slots=True)
class EphemeralEvent:
    """``m.typing``, ``m.receipt`` and other events outside the room's history."""

    type: str
    room_id: str
    content: Mapping[str, Any]

    @property
    def typing_user_ids(self) -> list[str]:
        users = self.content.get("user_ids") if self.type == "m.typing" else None
        return [u for u in users if isinstance(u, str)] if isinstance(users, list) else []


@dataclass(frozen=True, slots=True)
class AccountDataEvent:
    """Global (``room_id`` None) or per-room account data that changed."""

    type: str
    room_id: str | None
    content: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    user_id: str
    presence: str
    status_msg: str | None
    last_active_ago: int | None
    currently_active: bool


def _related(relates: Mapping[str, Any], rel_type: str) -> str | None:
    event_id = relates.get("event_id")
    return event_id if relates.get("rel_type") == rel_type and isinstance(event_id, str) else None


def _require(raw: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedResponse(where, f"event field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def parse_event(raw: Any, room_id: str, where: str = "event") -> Event:
    """The most specific class for a room event from /sync, /messages or /state."""
    if not isinstance(raw, dict):
        raise MalformedResponse(where, f"an event must be an object, got {type(raw).__name__}")
    base = dict(
        type=_require(raw, "type", str, where), room_id=room_id, sender=_require(raw, "sender", str, where),
        event_id=_require(raw, "event_id", str, where),
        origin_server_ts=_require(raw, "origin_server_ts", int, where),
        content=_require(raw, "content", dict, where), raw=raw,
    )
    content = base["content"]
    event_type = base["type"]
    if "state_key" in raw and not isinstance(raw["state_key"], str):
        raise MalformedResponse(where, "event field 'state_key' must be str")
    if event_type == "m.room.member" and isinstance(raw.get("state_key"), str) \
            and isinstance(content.get("membership"), str):
        return MemberEvent(**base, user_id=raw["state_key"], membership=content["membership"])
    if "state_key" in raw:
        return StateEvent(**base)
    if event_type == "m.room.message" and isinstance(content.get("body"), str) \
            and isinstance(content.get("msgtype"), str):
        return MessageEvent(**base, msgtype=content["msgtype"], body=content["body"])
    if event_type == "m.reaction":
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.annotation" \
                and isinstance(relates.get("event_id"), str) and isinstance(relates.get("key"), str):
            return ReactionEvent(**base, reacts_to=relates["event_id"], key=relates["key"])
    if event_type == "m.room.redaction":
        redacts = content.get("redacts", raw.get("redacts"))
        if isinstance(redacts, str):
            return RedactionEvent(**base, redacts=redacts)
    return Event(**base)


def parse_presence(raw: Any, where: str = "presence") -> PresenceEvent | None:
    """An ``m.presence`` event from /sync; None for one that is not (content is users' own)."""
    if not isinstance(raw, dict) or raw.get("type") != "m.presence":
        return None
    content = raw.get("content")
    sender = raw.get("sender")
    if not isinstance(content, dict) or not isinstance(sender, str) or not isinstance(content.get("presence"), str):
        return None
    status = content.get("status_msg")
    ago = content.get("last_active_ago")
    return PresenceEvent(sender, content["presence"], status if isinstance(status, str) else None,
                         ago if isinstance(ago, int) else None, content.get("currently_active") is True)
