"""Push rules as they apply to room events: each new event evaluated for the room's
local members, inside the transaction that persists it (push.md "Server behaviour": "The updated notification
count from a new event MUST appear in the same /sync response as the event itself").

Kept cheap, as it runs on every send: one query for the recipients (which also records
that the sender has read up to their own event), the rules from the cache, evaluation in
Python, and one insert of the actions that notify or highlight.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
import orjson

from homeserver.events.constants import MEMBER, POWER_LEVELS_KEY
from homeserver.events.errors import AuthError
from homeserver.events.pdu import content_of
from homeserver.events.power_levels import parse_power_level, user_power_level
from homeserver.events.room_versions import RoomVersion
from homeserver.events import push_rules as rules
from homeserver.timeline.aggregations import THREAD, relation_of
from homeserver.storage import push as store

if TYPE_CHECKING:
    from homeserver.server import HomeServer

StateKey = tuple[str, str]


@dataclass
class RulesCache:
    """Compiled push rules by user, each with the ``push_rules.stream_id`` it was built
    from. A reader passes the version it just read from the database, so a change made
    by any process is seen at once; this is only ever a cache."""

    max_users: int = 10_000
    _entries: OrderedDict[str, tuple[int, rules.CompiledRuleset]] = field(default_factory=OrderedDict)

    def get(self, user_id: str, version: int) -> rules.CompiledRuleset | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(user_id)
        return entry[1]

    def put(self, user_id: str, version: int, compiled: rules.CompiledRuleset) -> None:
        self._entries[user_id] = (version, compiled)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.max_users:
            self._entries.popitem(last=False)


async def push_rules_content(conn: Any, user_id: str) -> dict[str, Any]:
    """The content of the user's ``m.push_rules`` account data: ``{"global": ruleset}``
    (push.md "Push Rules: Events")."""
    stored = await store.get_push_rules(conn, user_id)
    document = {"rules": stored.rules, "defaults": stored.defaults} if stored is not None else None
    return {"global": rules.ruleset(user_id, document)}


class Persisted(Protocol):
    """An event just persisted (``rooms.send.Sent``, or one received over federation)."""

    @property
    def event_id(self) -> str: ...
    @property
    def room_id(self) -> str: ...
    @property
    def stream_ordering(self) -> int: ...
    @property
    def pdu(self) -> dict[str, Any]: ...


async def on_event(
    hs: HomeServer, conn: asyncpg.Connection, room_version: RoomVersion, persisted: Persisted,
    auth_state: Mapping[StateKey, Mapping[str, Any]],
) -> tuple[str, Outcome]:
    """Record the push actions of a just-persisted event for every local member it may
    notify, and mark it read for its sender; its thread and who it notifies.
    ``auth_state`` is the state the event was authorised against (its power levels and
    create event decide room notifications)."""
    pdu = persisted.pdu
    thread_id = await thread_of(conn, content_of(pdu))
    invitee = invitee_of(hs, pdu)
    recipients, member_count = await store.recipients_and_mark_read(
        conn, persisted.room_id, pdu["sender"], invitee, thread_id, persisted.stream_ordering, wants_names(pdu)
    )
    outcome = await evaluate(
        hs, conn, room_version, persisted.event_id, persisted.room_id, pdu, auth_state, recipients, member_count
    )
    if outcome.notifies:
        await store.insert_push_actions(
            conn, persisted.room_id, persisted.event_id, persisted.stream_ordering, thread_id, hs.clock.now_ms(),
            outcome.notifies,
        )
    return thread_id, outcome


@dataclass(frozen=True, slots=True)
class Outcome:
    notifies: list[store.Notify]
    # Recipients with pushers whom the event notifies.
    to_push: list[str]


def invitee_of(hs: HomeServer, pdu: Mapping[str, Any]) -> str | None:
    """The local user a membership invite is for, who is evaluated though not joined."""
    content = content_of(pdu)
    if pdu["type"] == MEMBER and content.get("membership") == "invite" and hs.is_mine(pdu.get("state_key", "")):
        return pdu["state_key"]
    return None


def wants_names(pdu: Mapping[str, Any]) -> bool:
    """Display names are read only when a legacy body mention could match."""
    content = content_of(pdu)
    return isinstance(content.get("body"), str) and "m.mentions" not in content


async def evaluate(
    hs: HomeServer, conn: Any, room_version: RoomVersion, event_id: str, room_id: str, pdu: Mapping[str, Any],
    auth_state: Mapping[StateKey, Mapping[str, Any]], recipients: Sequence[store.Recipient], member_count: int,
) -> Outcome:
    """Each recipient's push rules against the event: who it notifies or highlights."""
    if not recipients:
        return Outcome([], [])
    sender = pdu["sender"]
    names = wants_names(pdu)
    level, notification_levels = _sender_levels(room_version, sender, auth_state)
    event = rules.PushEvent({**pdu, "event_id": event_id, "room_id": room_id}, member_count, level, notification_levels)
    rulesets = await compiled_rules(conn, hs.push_rules, recipients)
    notifies, to_push = [], []
    # Ignored users' messages and invites never reach the client (spec: "Ignoring Users"),
    # so they must not notify either; their other state events still do.
    ignorable = "state_key" not in pdu or invitee_of(hs, pdu) is not None
    for recipient in recipients:
        if ignorable and recipient.ignores(sender):
            continue
        ruleset = rulesets[recipient.user_id]
        name = _display_name(recipient.member_json) if names and ruleset.needs_display_name else None
        result = rules.evaluate(ruleset, event, name)
        if result is None or not (result.notify or result.highlight):
            continue
        notifies.append(store.Notify(recipient.user_id, list(result.actions), result.notify, result.highlight))
        if result.notify and recipient.has_pushers:
            to_push.append(recipient.user_id)
    return Outcome(notifies, to_push)


async def thread_of(conn: Any, content: Mapping[str, Any]) -> str:
    """The thread of an event with this content: the root of an ``m.thread`` relation,
    the thread of the event another relation points at, else ``main``."""
    relation = relation_of(content)
    if relation is None:
        return store.MAIN
    parent, rel_type = relation
    if rel_type == THREAD:
        return parent
    return await store.thread_of_parent(conn, parent)


async def compiled_rules(
    conn: Any, cache: RulesCache, recipients: Sequence[store.Recipient]
) -> dict[str, rules.CompiledRuleset]:
    """Each recipient's compiled rules, from the cache when it holds their current version."""
    out: dict[str, rules.CompiledRuleset] = {}
    missing = []
    for recipient in recipients:
        compiled = cache.get(recipient.user_id, recipient.rules_version)
        if compiled is not None:
            out[recipient.user_id] = compiled
        elif recipient.rules_version == 0:
            out[recipient.user_id] = _compile(cache, recipient.user_id, 0, None)
        else:
            missing.append(recipient.user_id)
    if missing:
        for user_id, stored in (await store.get_push_rules_for_users(conn, missing)).items():
            out[user_id] = _compile(cache, user_id, stored.stream_id, stored)
        for user_id in missing:  # deleted meanwhile: the defaults
            out.setdefault(user_id, _compile(cache, user_id, 0, None))
    return out


def _compile(cache: RulesCache, user_id: str, version: int, stored: store.StoredRules | None) -> rules.CompiledRuleset:
    document = {"rules": stored.rules, "defaults": stored.defaults} if stored is not None else None
    compiled = rules.compile_ruleset(rules.ruleset(user_id, document))
    cache.put(user_id, version, compiled)
    return compiled


def _sender_levels(
    room_version: RoomVersion, sender: str, auth_state: Mapping[StateKey, Mapping[str, Any]]
) -> tuple[float, dict[str, int]]:
    """The sender's power level and the room's ``notifications`` levels."""
    try:
        level = user_power_level(room_version, sender, auth_state)  # type: ignore[arg-type]
    except AuthError:
        level = 0
    power_levels = auth_state.get(POWER_LEVELS_KEY)
    content = power_levels.get("content") if power_levels else None
    raw = content.get("notifications") if isinstance(content, dict) else None
    levels: dict[str, int] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            try:
                levels[key] = parse_power_level(room_version, value)
            except AuthError:
                continue
    return level, levels


def _display_name(member_json: str | None) -> str | None:
    if member_json is None:
        return None
    try:
        content = orjson.loads(member_json).get("content")
    except orjson.JSONDecodeError:
        return None
    name = content.get("displayname") if isinstance(content, dict) else None
    return name if isinstance(name, str) else None
