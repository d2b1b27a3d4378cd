"""Bundled aggregations (spec: client-server-api "Aggregations of child events"): what a
served event carries under ``unsigned["m.relations"]``.

- ``m.replace``: the most recent valid replacement event, bundled whole; the original's
  content is left as it is (event_replacements.md, changed in v1.7).
- ``m.thread``: the latest thread event, the number of thread events, and whether the
  reader took part (threading.md).
- ``m.reference``: the IDs of the referencing events (reference_relations.md).
- ``m.annotation`` is never bundled (event_annotations.md).

State events get none. Replacements and annotations get none (nothing may relate to
them). Only an event that is not itself a child can be a thread root, and a redacted
event gets no ``m.replace``. Only children the reader may see under history visibility
count. A page costs one query for the children, the visibility check, and one query for
the events bundled whole, however many events it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from homeserver.timeline import visibility
from homeserver.storage import events as event_store
from homeserver.storage import relations as relation_store
from homeserver.storage.events import StoredEvent
from homeserver.storage.relations import Child

REPLACE, THREAD, REFERENCE, ANNOTATION = "m.replace", "m.thread", "m.reference", "m.annotation"
BUNDLED = (REPLACE, THREAD, REFERENCE)
ENCRYPTED = "m.room.encrypted"


def relation_of(content: Mapping[str, Any]) -> tuple[str, str] | None:
    """(event_id, rel_type) of a content's ``m.relates_to``; None when it has none, or
    one not of the schema's shape (spec: such relationships "are simply ignored")."""
    relates_to = content.get("m.relates_to")
    if not isinstance(relates_to, dict):
        return None
    event_id, rel_type = relates_to.get("event_id"), relates_to.get("rel_type")
    if isinstance(event_id, str) and isinstance(rel_type, str):
        return event_id, rel_type
    return None


@dataclass(frozen=True, slots=True)
class Thread:
    latest_event: StoredEvent
    count: int
    current_user_participated: bool


@dataclass(frozen=True, slots=True)
class Bundle:
    replace: StoredEvent | None = None
    thread: Thread | None = None
    references: tuple[str, ...] = ()


def _aggregations_for(event: StoredEvent) -> tuple[str, ...]:
    """The relation types the spec bundles on this event."""
    if event.is_state:
        return ()
    # Redaction strips m.relates_to: a redacted event is a child of nothing.
    content = event.pdu.get("content")
    relation = None if event.redacted_by or not isinstance(content, dict) else relation_of(content)
    if relation is not None and relation[1] in (REPLACE, ANNOTATION):
        return ()
    kinds = (REFERENCE,) if relation is not None else (THREAD, REFERENCE)
    return kinds if event.redacted_by else (*kinds, REPLACE)


def _valid_child(parent: StoredEvent, child: Child) -> bool:
    if child.room_id != parent.room_id:
        return False
    if child.rel_type != REPLACE:
        return True
    # Spec: "Validity of replacement events".
    return (
        child.sender == parent.sender and child.type == parent.type and child.state_key is None
        and _has_new_content(child)
    )


def _has_new_content(child: Child) -> bool:
    if child.type == ENCRYPTED:
        return True  # m.new_content is inside the ciphertext, where the server cannot look
    content = orjson.loads(child.json or "{}").get("content")
    return isinstance(content, dict) and isinstance(content.get("m.new_content"), dict)


def _probe(child: Child) -> StoredEvent:
    """What the history-visibility check reads of an event, without its body."""
    return StoredEvent(
        event_id=child.event_id, room_id=child.room_id, stream_ordering=child.stream_ordering, depth=0,
        type=child.type, state_key=child.state_key, sender=child.sender, origin_server_ts=child.origin_server_ts,
        pdu={}, state_group=child.state_group, redacted_by=None, rejected=False,
    )


async def bundles(conn: Any, user_id: str, events: Sequence[StoredEvent]) -> dict[str, Bundle]:
    """The non-empty bundles of a page of events, keyed by event ID."""
    parents = {e.event_id: (e, kinds) for e in events if (kinds := _aggregations_for(e))}
    if not parents:
        return {}
    found = await relation_store.children(conn, list(parents), BUNDLED)
    candidates = [
        c for c in found
        if c.rel_type in parents[c.relates_to][1] and _valid_child(parents[c.relates_to][0], c)
    ]
    if not candidates:
        return {}
    visible = await visibility.filter_events(conn, user_id, [_probe(c) for c in candidates])
    seen = {e.event_id for e in visible}
    by_parent: dict[str, list[Child]] = {}
    for child in candidates:  # oldest first
        if child.event_id in seen:
            by_parent.setdefault(child.relates_to, []).append(child)
    chosen = {parent_id: _choose(parents[parent_id][0], kids, user_id) for parent_id, kids in by_parent.items()}
    wanted = {i for c in chosen.values() for i in (c.replace_id, c.latest_id) if i}
    whole = await event_store.get_events(conn, wanted) if wanted else {}
    return {parent_id: c.bundle(whole) for parent_id, c in chosen.items()}


@dataclass(frozen=True, slots=True)
class _Chosen:
    replace_id: str | None
    latest_id: str | None
    count: int
    participated: bool
    references: tuple[str, ...]

    def bundle(self, whole: Mapping[str, StoredEvent]) -> Bundle:
        latest = whole.get(self.latest_id) if self.latest_id else None
        return Bundle(
            replace=whole.get(self.replace_id) if self.replace_id else None,
            thread=Thread(latest, self.count, self.participated) if latest else None,
            references=self.references,
        )


def _choose(parent: StoredEvent, kids: list[Child], user_id: str) -> _Chosen:
    edits = [c for c in kids if c.rel_type == REPLACE]
    replies = [c for c in kids if c.rel_type == THREAD]
    # Spec: the most recent by origin_server_ts, ties going to the largest event ID.
    latest_edit = max(edits, key=lambda c: (c.origin_server_ts, c.event_id)) if edits else None
    return _Chosen(
        replace_id=latest_edit.event_id if latest_edit else None,
        latest_id=replies[-1].event_id if replies else None,
        count=len(replies),
        participated=parent.sender == user_id or any(c.sender == user_id for c in replies),
        references=tuple(c.event_id for c in kids if c.rel_type == REFERENCE),
    )
