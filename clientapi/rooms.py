"""Room state and members as of the latest /sync, kept by the client as it syncs.

``RoomStore.apply`` takes each ``SyncResponse`` in order: the state section first (state
at the start of the timeline), then the state events of the timeline, so after a batch
every ``Room`` holds the state at the end of that batch. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clientapi.events import Event, InviteEvent, MemberEvent
from clientapi.responses import JoinedRoomUpdate, SyncResponse

# Spec: m.room.power_levels defaults when the event or a key is absent.
_DEFAULT_LEVELS = {"ban": 50, "kick": 50, "redact": 50, "invite": 0, "state_default": 50, "events_default": 0,
                   "users_default": 0}

_VERSIONS_WITHOUT_CREATORS = frozenset(str(v) for v in range(1, 12))
# Spec, room version 12: creators have "infinite" power; higher than any level an event can hold.
CREATOR_LEVEL = 2**63


@dataclass
class Room:
    room_id: str
    state: dict[tuple[str, str], Event] = field(default_factory=dict)
    notification_count: int = 0
    highlight_count: int = 0
    # The token to page back from the start of the latest timeline (``Client.history``).
    prev_batch: str | None = None

    def state_content(self, event_type: str, state_key: str = "") -> Mapping[str, Any]:
        event = self.state.get((event_type, state_key))
        return event.content if event is not None else {}

    @property
    def name(self) -> str | None:
        name = self.state_content("m.room.name").get("name")
        return name if isinstance(name, str) and name else None

    @property
    def topic(self) -> str | None:
        topic = self.state_content("m.room.topic").get("topic")
        return topic if isinstance(topic, str) else None

    @property
    def encrypted(self) -> bool:
        return ("m.room.encryption", "") in self.state

    @property
    def members(self) -> dict[str, MemberEvent]:
        """Every user with a membership, by user ID (joined, invited, left, banned...)."""
        return {e.user_id: e for (kind, _), e in self.state.items() if kind == "m.room.member"
                and isinstance(e, MemberEvent)}

    def user_ids(self, membership: str = "join") -> list[str]:
        return sorted(u for u, e in self.members.items() if e.membership == membership)

    @property
    def joined_user_ids(self) -> list[str]:
        return self.user_ids("join")

    def display_name(self, user_id: str) -> str:
        member = self.members.get(user_id)
        return (member.displayname if member is not None else None) or user_id

    @property
    def creators(self) -> set[str]:
        """Room version 12 on: the creator and ``additional_creators``, above every level."""
        create = self.state.get(("m.room.create", ""))
        if create is None or create.content.get("room_version", "1") in _VERSIONS_WITHOUT_CREATORS:
            return set()
        extra = create.content.get("additional_creators")
        return {create.sender, *(u for u in extra if isinstance(u, str))} if isinstance(extra, list) else {create.sender}

    def power_level(self, user_id: str) -> int:
        if user_id in self.creators:
            return CREATOR_LEVEL
        levels = self.state_content("m.room.power_levels")
        if not levels:
            # Spec: without power levels the creator has 100 and everyone else 0.
            creator = self.state.get(("m.room.create", ""))
            return 100 if creator is not None and creator.sender == user_id else 0
        users = levels.get("users")
        level = users.get(user_id) if isinstance(users, dict) else None
        return level if isinstance(level, int) else _level(levels, "users_default")

    def required_level(self, action: str) -> int:
        """The level needed for ``ban``, ``kick``, ``redact``, ``invite``, or to send an
        event of type ``action`` (``m.room.name``...)."""
        levels = self.state_content("m.room.power_levels")
        if action in ("ban", "kick", "redact", "invite"):
            return _level(levels, action)
        events = levels.get("events")
        level = events.get(action) if isinstance(events, dict) else None
        if isinstance(level, int):
            return level
        return _level(levels, "state_default" if action.startswith("m.room.") else "events_default")

    def can(self, user_id: str, action: str) -> bool:
        return self.power_level(user_id) >= self.required_level(action)

    def apply(self, update: JoinedRoomUpdate) -> None:
        for event in update.state + update.timeline:
            if event.state_key is not None:
                self.state[(event.type, event.state_key)] = event
        self.notification_count = update.notification_count
        self.highlight_count = update.highlight_count
        if update.prev_batch is not None:
            self.prev_batch = update.prev_batch


def _level(levels: Mapping[str, Any], name: str) -> int:
    value = levels.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else _DEFAULT_LEVELS[name]


@dataclass
class RoomStore:
    rooms: dict[str, Room] = field(default_factory=dict)
    invites: dict[str, InviteEvent] = field(default_factory=dict)
    # Global account data by type (``m.direct`` among them), as of the latest sync.
    account_data: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def apply(self, response: SyncResponse) -> None:
        for event in response.account_data:
            self.account_data[event.type] = event.content
        for update in response.joined:
            self.invites.pop(update.room_id, None)
            self.rooms.setdefault(update.room_id, Room(update.room_id)).apply(update)
        for invite in response.invited:
            self.invites[invite.room_id] = invite
        for left in response.left:
            self.rooms.pop(left.room_id, None)
            self.invites.pop(left.room_id, None)

    def direct_rooms(self) -> dict[str, list[str]]:
        """``m.direct``: user ID -> the rooms marked as direct chats with them."""
        return parse_direct(self.account_data.get("m.direct"))


def parse_direct(content: Any) -> dict[str, list[str]]:
    """``m.direct`` content as user ID -> room IDs, dropping what is not of that shape
    (account data is written by every client of the user, not all of them careful)."""
    if not isinstance(content, Mapping):
        return {}
    return {user: [r for r in rooms if isinstance(r, str)] for user, rooms in content.items()
            if isinstance(user, str) and isinstance(rooms, list)}
