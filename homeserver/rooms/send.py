"""Sending an event: build, authorise against the state before it, persist, then
announce it on the change feed (which wakes /sync, the pushers and presence).

Local event creation is serialised per room: an in-process lock keeps this process's
senders in order (and off the connection pool while they wait), and the write checks that
the forward extremity it built on is still there, so another server process on the same
database makes a send rebuild rather than fork the room. The room keeps one forward
extremity after every local send.

Two paths: a message (neither state nor a redaction) is built on the room's cached head
and written by the group commit in one statement shared with other rooms' messages; a
state event or redaction reads the room and writes in a transaction of its own (state
groups, current state, memberships), and drops the cached head.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import orjson

from homeserver.errors import MatrixError
from homeserver.events import auth_rules, builder
from homeserver.events.canonical import encode_canonical_json
from homeserver.events.constants import CREATE, CREATE_KEY, MAX_PDU_SIZE, MEMBER, REDACTION
from homeserver.events.errors import AuthError, EventFormatError
from homeserver.events.pdu import redacts_of
from homeserver.events.power_levels import named_level, user_power_level
from homeserver.events.room_versions import RoomVersion, get_room_version
from homeserver.server import ROOM_HEADS, HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import push as push_store
from homeserver.storage import relations as relation_store
from homeserver.storage import rooms as room_store
from homeserver.storage import search as search_store
from homeserver.storage import state as state_store
from homeserver.streams import CommittedEvent, Notify, Stream, Writer
from homeserver.timeline import push as push_evaluate

StateKey = tuple[str, str]

ANNOTATION = "m.annotation"


@dataclass(frozen=True, slots=True)
class Draft:
    """What a client asks to send."""

    type: str
    content: dict[str, Any]
    state_key: str | None = None
    redacts: str | None = None


@dataclass(frozen=True, slots=True)
class Txn:
    """A client transaction ID, scoped to the device that sent it and the endpoint it was
    sent to: the room and the rest of the path (``send/{eventType}``, ``redact/{eventId}``;
    spec: "Transaction identifiers")."""

    device_id: str
    endpoint: str
    txn_id: str


@dataclass(frozen=True, slots=True)
class Sent:
    event_id: str
    room_id: str
    stream_ordering: int
    pdu: dict[str, Any] = field(repr=False)
    # The state of the room after this event.
    state_group: int = 0

    @property
    def extremity(self) -> tuple[str, int, int]:
        return (self.event_id, self.pdu["depth"], self.state_group)


# How often a send is rebuilt when another process moved the room on under it.
MAX_ATTEMPTS = 10
# The unique key that makes a client transaction ID produce one event.
TXN_KEY = "event_txn_ids_pkey"


async def send_event(hs: HomeServer, room_id: str, sender: str, draft: Draft, txn: Txn | None = None) -> Sent:
    check_size(draft)
    if draft.type == CREATE:
        # Only a room's first event may be its create event (auth rules 1.1: one with
        # prev_events is rejected), whoever sends it, as state or not.
        raise MatrixError(403, "M_FORBIDDEN", "A room has exactly one m.room.create event, its first")
    for attempt in range(MAX_ATTEMPTS):
        try:
            sent = await _send_once(hs, room_id, sender, draft, txn)
            break
        except (event_store.RoomChanged, asyncpg.UniqueViolationError) as e:
            # Another process extended the room, or stored this very client transaction,
            # first: the next attempt reads what it wrote.
            if isinstance(e, asyncpg.UniqueViolationError) and e.constraint_name != TXN_KEY:
                raise
            if attempt == MAX_ATTEMPTS - 1:
                raise MatrixError(503, "M_UNKNOWN", "The room is too busy; try again") from None
            # Jittered backoff, so two processes racing on one room stop colliding.
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
    return sent


async def _send_once(hs: HomeServer, room_id: str, sender: str, draft: Draft, txn: Txn | None) -> Sent:
    """One attempt. In-process sends to a room queue on its lock; another process that
    extends the room meanwhile makes the write fail with RoomChanged (an optimistic check
    on the forward extremity), and the event is built again on top of the new one."""
    async with hs.room_locks.hold(room_id), hs.feed.writing(Stream.EVENTS) as writer:
        if draft.state_key is None and draft.type != REDACTION:
            await _check_annotation(hs, room_id, sender, draft, txn)
            return await _send_message(hs, writer, room_id, sender, draft, txn)
        # A state event or redaction: the next message re-reads the room, in every process.
        writer.invalidate(ROOM_HEADS, room_id)
        async with hs.db.transaction() as conn:
            # Other processes' state events and redactions in this room wait here (their
            # messages are caught by the extremity check, without waiting).
            await event_store.lock_room(conn, room_id)
            context = await event_store.send_context(conn, room_id, sender, *_txn_key(txn))
            if context is None:
                raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
            if context.txn_event_id is not None:  # a retried request, maybe after a restart
                return await _sent(conn, context.txn_event_id)
            return await persist_local(
                hs, conn, writer, get_room_version(context.room_version), room_id, sender, draft,
                context.extremities, _local_txn(hs, sender, txn),
            )


async def _check_annotation(hs: HomeServer, room_id: str, sender: str, draft: Draft, txn: Txn | None) -> None:
    """Spec "Avoiding duplicate annotations": a second annotation of an event with the
    same type and key by the same sender is refused (unless the first was redacted). The
    room's lock orders this process's sends, so two racing duplicates cannot both pass."""
    relates = draft.content.get("m.relates_to")
    if not isinstance(relates, dict) or relates.get("rel_type") != ANNOTATION:
        return
    target, key = relates.get("event_id"), relates.get("key")
    if not isinstance(target, str) or not isinstance(key, str):
        return
    conn = hs.db.pool
    if txn is not None and await event_store.txn_event(conn, sender, txn.device_id, room_id, txn.endpoint, txn.txn_id):
        return  # a retried request: answered with the event it made
    if await relation_store.annotation_exists(conn, target, sender, draft.type, key):
        raise MatrixError(400, "M_DUPLICATE_ANNOTATION", "You have already sent this annotation")


@dataclass(frozen=True, slots=True)
class RoomHead:
    """What sending a message needs of its room, kept between sends in ``hs.room_heads``:
    the room version, the forward extremity (event_id, depth, state_group), the joined
    local members (push recipients) and the joined member count.

    Only sends change a room's extremity and they hold the room's lock, so a message send
    updates the head it built on; any other event (state, redactions) invalidates it
    (tagged with the room), and so do changes to a member's push rules, pushers or ignore
    list (tagged with each member). The feed carries the invalidations to the other
    processes, and a message sent by another process invalidates the room's head there;
    one that races it anyway is caught by the optimistic extremity check (RoomChanged
    drops the head and the send is built again)."""

    room_version: RoomVersion
    extremity: tuple[str, int, int]
    members: list[push_store.Recipient]
    member_count: int
    # (sender, event type) pairs already authorised against this head's state. For an
    # event that is neither state nor a redaction the auth rules look at nothing else
    # (the sender's membership and power level, the type's required level), and message
    # sends never change the state, so the answer holds until the head is dropped.
    authorised: set[tuple[str, str]] = field(default_factory=set)


async def _send_message(
    hs: HomeServer, writer: Writer, room_id: str, sender: str, draft: Draft, txn: Txn | None
) -> Sent:
    """A message (neither state nor a redaction): built on the room's cached head, and
    written with its push actions by the group commit (hs.messages), in one statement
    with the messages other rooms are sending meanwhile. A retried client transaction is
    caught by the database's unique key on it, and answered with the event it produced.
    The database is read only for what the caches miss, each read on a pooled connection
    of its own."""
    conn = hs.db.pool
    generation = hs.room_heads.generation
    head = hs.room_heads.get(room_id) or await _load_head(hs, conn, room_id, sender, txn)
    if isinstance(head, Sent):
        return head
    event_id, pdu, auth_state = await _build(
        hs, conn, head.room_version, room_id, sender, draft, [head.extremity],
        authorised=(sender, draft.type) in head.authorised,
    )
    head.authorised.add((sender, draft.type))
    thread_id = await push_evaluate.thread_of(conn, draft.content)
    recipients = [m for m in head.members if m.user_id != sender]
    outcome = await push_evaluate.evaluate(
        hs, conn, head.room_version, event_id, room_id, pdu, auth_state, recipients, head.member_count
    )
    message = event_store.NewMessage(
        _new_event(event_id, room_id, pdu, head.extremity[2]), _local_txn(hs, sender, txn),
        event_store.PushWrite(thread_id, outcome.notifies),
    )
    writer.expect()
    try:
        stream_ordering = await hs.messages.write(message)
    except asyncpg.UniqueViolationError as e:
        if txn is None or e.constraint_name != TXN_KEY:
            raise
        event_id = await event_store.txn_event(conn, sender, txn.device_id, room_id, txn.endpoint, txn.txn_id)
        if event_id is None:  # a race with another process; the retry reads its event
            raise event_store.RoomChanged(room_id) from None
        return await _sent(conn, event_id)
    except BaseException:
        hs.room_heads.pop(room_id)
        raise
    writer.record(Stream.EVENTS, [stream_ordering])
    hs.event_cache.put(event_id, pdu)
    sent = Sent(event_id, room_id, stream_ordering, pdu, head.extremity[2])
    hs.room_heads.put_unless_invalidated(
        generation, room_id, replace(head, extremity=sent.extremity), _head_tags(room_id, head.members)
    )
    writer.invalidate(ROOM_HEADS, room_id, here=False)  # its extremity moved on
    announce(hs, writer, sent, txn, thread_id, outcome)
    return sent


def announce(
    hs: HomeServer, writer: Writer, sent: Sent, txn: Txn | None, thread_id: str, outcome: push_evaluate.Outcome
) -> None:
    """Describe a persisted event to the change feed: its room's /syncs, the membership
    target's, the pushers of the local users it notifies, and (from memory) the event."""
    writer.touch(rooms=[sent.room_id])
    if sent.pdu["type"] == MEMBER:
        writer.touch(users=[sent.pdu.get("state_key", "")])
    if hs.is_mine(sent.pdu["sender"]):
        writer.actors.add(sent.pdu["sender"])  # sending keeps a user online (spec: Presence)
    writer.push_users.update(outcome.to_push)
    writer.events.append(CommittedEvent(
        sent.event_id, sent.room_id, sent.stream_ordering, sent.pdu,
        (txn.device_id, txn.txn_id) if txn is not None else None, thread_id,
        tuple(Notify(n.user_id, n.notif, n.highlight) for n in outcome.notifies),
    ))


def _head_tags(room_id: str, members: list[push_store.Recipient]) -> list[str]:
    return [room_id, *(m.user_id for m in members)]


async def _load_head(
    hs: HomeServer, conn: event_store.Conn, room_id: str, sender: str, txn: Txn | None
) -> RoomHead | Sent:
    """Read the room's head (or the event a retried client transaction produced)."""
    generation = hs.room_heads.generation
    context = await event_store.send_context(conn, room_id, sender, *_txn_key(txn), recipients=True)
    if context is None:
        raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
    if context.txn_event_id is not None:
        return await _sent(conn, context.txn_event_id)
    if len(context.extremities) != 1:
        raise _diverged()
    head = RoomHead(
        get_room_version(context.room_version), context.extremities[0], context.recipients, context.member_count
    )
    hs.room_heads.put_unless_invalidated(generation, room_id, head, _head_tags(room_id, head.members))
    return head


def _txn_key(txn: Txn | None) -> tuple[str | None, str | None, str | None]:
    return (txn.device_id, txn.endpoint, txn.txn_id) if txn else (None, None, None)


def _local_txn(hs: HomeServer, sender: str, txn: Txn | None) -> event_store.LocalTxn | None:
    return event_store.LocalTxn(sender, txn.device_id, txn.endpoint, txn.txn_id, hs.clock.now_ms()) if txn else None


async def _sent(conn: event_store.Conn, event_id: str) -> Sent:
    event = await event_store.get_event(conn, event_id)
    assert event is not None
    return Sent(event.event_id, event.room_id, event.stream_ordering, event.pdu, event.state_group)


def _diverged() -> MatrixError:
    # TODO(federation): resolve the extremities' states (events.state_res) into one group.
    return MatrixError(503, "M_UNKNOWN", "Room has diverged; state resolution is not wired yet")


def check_size(draft: Draft) -> None:
    # The whole PDU must fit in 64 KiB (spec: "Size limits"); content alone over it never can.
    if len(encode_canonical_json(draft.content)) > MAX_PDU_SIZE:
        raise MatrixError(413, "M_TOO_LARGE", "Event is too large")


@dataclass(frozen=True, slots=True)
class Prepared:
    """An event built, authorised and given its state group, not yet stored."""

    room_version: RoomVersion
    room_id: str
    event_id: str
    pdu: dict[str, Any]
    auth_state: dict[StateKey, dict[str, Any]]
    state_group: int

    @property
    def extremity(self) -> tuple[str, int, int]:
        return (self.event_id, self.pdu["depth"], self.state_group)


async def persist_local(
    hs: HomeServer, conn: asyncpg.Connection, writer: Writer, room_version: RoomVersion, room_id: str | None,
    sender: str, draft: Draft, extremities: list[tuple[str, int, int]], txn: event_store.LocalTxn | None = None,
) -> Sent:
    """Build, authorise and persist one event on top of ``extremities`` ((event_id,
    depth, state_group) each; none for a create event).

    ``room_id`` is None only for the create event of a v12 room; the caller holds the
    room's lock and owns the transaction.
    """
    prepared = await prepare_local(hs, conn, room_version, room_id, sender, draft, extremities)
    return await store_prepared(hs, conn, writer, prepared, txn)


async def prepare_local(
    hs: HomeServer, conn: asyncpg.Connection, room_version: RoomVersion, room_id: str | None, sender: str,
    draft: Draft, extremities: list[tuple[str, int, int]],
) -> Prepared:
    """Everything of persisting an event that takes no stream position: build and
    authorise it, record a redaction, write the state group after it (a transaction
    that stores several events prepares them all before it draws positions, so it holds
    readers back only while it stores them)."""
    if len(extremities) > 1:
        raise _diverged()
    event_id, pdu, auth_state = await _build(hs, conn, room_version, room_id, sender, draft, extremities)
    room_id = pdu.get("room_id") or "!" + event_id[1:]
    if draft.type == CREATE:
        await room_store.insert_room(conn, room_id, room_version.identifier, sender, hs.clock.now_ms())
    if draft.type == REDACTION:
        await _apply_redaction(conn, room_version, pdu, event_id, auth_state)
    state_group = extremities[0][2] if extremities else None
    state_key = pdu.get("state_key")
    if state_key is not None:
        state_group = await state_store.create_state_group(conn, room_id, state_group, {(pdu["type"], state_key): event_id})
    assert state_group is not None, "the first event of a room is its create event, a state event"
    hs.event_cache.put(event_id, pdu)  # the next event prepared may name it as an auth event
    return Prepared(room_version, room_id, event_id, pdu, auth_state, state_group)


async def store_prepared(
    hs: HomeServer, conn: asyncpg.Connection, writer: Writer, prepared: Prepared,
    txn: event_store.LocalTxn | None = None, *, evaluate_push: bool = True,
) -> Sent:
    """Store a prepared event at a stream position, with its push actions (skipped with
    ``evaluate_push`` False for an event nobody but its sender could be notified of),
    and describe it to the change feed."""
    sent = await _store(hs, conn, writer, prepared, txn)
    thread_id, outcome = (await push_evaluate.on_event(hs, conn, prepared.room_version, sent, prepared.auth_state)
                          if evaluate_push else (push_store.MAIN, push_evaluate.Outcome([], [])))
    announce(hs, writer, sent, Txn(txn.device_id, txn.endpoint, txn.txn_id) if txn else None, thread_id, outcome)
    return sent


async def _build(
    hs: HomeServer, conn: event_store.Conn, room_version: RoomVersion, room_id: str | None, sender: str,
    draft: Draft, extremities: list[tuple[str, int, int]], *, authorised: bool = False,
) -> tuple[str, dict[str, Any], dict[StateKey, dict[str, Any]]]:
    """Build, hash and sign the event on top of ``extremities`` and authorise it against
    the state before it (unless the caller knows it is: ``authorised``); return its ID,
    the PDU and that state's auth events."""
    state_group = extremities[0][2] if extremities else None
    keys = set(builder.auth_types_for_event(room_version, draft.type, draft.state_key, sender, draft.content))
    state_ids = await _state_entries(hs, conn, state_group, frozenset(keys | {CREATE_KEY})) if state_group else {}
    pdus = await _pdus(hs, conn, state_ids.values())
    auth_state = {key: pdus[event_id] for key, event_id in state_ids.items()}
    try:
        event_id, pdu = builder.build_event(
            room_version,
            room_id=room_id,
            sender=sender,
            event_type=draft.type,
            content=draft.content,
            state_key=draft.state_key,
            redacts=draft.redacts,
            prev_events=[e[0] for e in extremities],
            auth_events=[state_ids[k] for k in sorted(keys) if k in state_ids],
            depth=builder.compute_depth(room_version, [e[1] for e in extremities]),
            origin_server_ts=hs.clock.now_ms(),
            server_name=hs.server_name,
            signing_key=hs.server_key,
        )
        if not authorised:
            auth_rules.check_auth(room_version, pdu, auth_state)
    except EventFormatError as e:
        raise MatrixError(400, "M_BAD_JSON", str(e)) from None
    except AuthError as e:
        raise MatrixError(403, "M_FORBIDDEN", str(e)) from None
    return event_id, pdu, auth_state


async def _state_entries(
    hs: HomeServer, conn: event_store.Conn, state_group: int, keys: frozenset[StateKey]
) -> dict[StateKey, str]:
    cached = hs.state_cache.get((state_group, keys))
    if cached is None:
        cached = await state_store.get_state_entries(conn, state_group, keys)
        hs.state_cache.put((state_group, keys), cached)
    return cached


async def _pdus(hs: HomeServer, conn: event_store.Conn, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Events as signed, from the cache where possible (they never change once stored)."""
    found: dict[str, dict[str, Any]] = {}
    missing = []
    for event_id in event_ids:
        pdu = hs.event_cache.get(event_id)
        if pdu is None:
            missing.append(event_id)
        else:
            found[event_id] = pdu
    for event_id, event in (await event_store.get_events(conn, missing)).items() if missing else ():
        hs.event_cache.put(event_id, event.pdu)
        found[event_id] = event.pdu
    return found


async def _apply_redaction(
    conn: asyncpg.Connection, room_version: RoomVersion, pdu: dict[str, Any], event_id: str,
    auth_state: dict[StateKey, dict[str, Any]],
) -> None:
    target_id = redacts_of(room_version, pdu)
    target = await event_store.get_event(conn, target_id) if target_id else None
    if target is None or target.room_id != pdu.get("room_id", target.room_id):
        raise MatrixError(404, "M_NOT_FOUND", "Unknown event to redact")
    # A client may redact its own events, or others' with the redact power level
    # (client-server-api "Redactions"; stricter than redaction_applies' same-server rule).
    sender = pdu["sender"]
    if target.sender != sender and (
        user_power_level(room_version, sender, auth_state) < named_level(room_version, auth_state, "redact")
    ):
        raise MatrixError(403, "M_FORBIDDEN", "You may not redact this event")
    await event_store.mark_redacted(conn, target, event_id)


def _new_event(event_id: str, room_id: str, pdu: dict[str, Any], state_group: int) -> event_store.NewEvent:
    relates_to = pdu["content"].get("m.relates_to")
    relation = relates_to if isinstance(relates_to, dict) else {}
    rel_target, rel_type = relation.get("event_id"), relation.get("rel_type")
    return event_store.NewEvent(
        event_id=event_id, room_id=room_id, pdu=pdu, json=orjson.dumps(pdu).decode(), state_group=state_group,
        relates_to=rel_target if isinstance(rel_target, str) else None,
        rel_type=rel_type if isinstance(rel_type, str) else None,
        search=search_store.searchable_text(pdu),
    )


async def _store(
    hs: HomeServer, conn: asyncpg.Connection, writer: Writer, prepared: Prepared, txn: event_store.LocalTxn | None,
) -> Sent:
    room_id, event_id, pdu, state_group = prepared.room_id, prepared.event_id, prepared.pdu, prepared.state_group
    writer.expect()
    stream_ordering = await event_store.insert_event(conn, _new_event(event_id, room_id, pdu, state_group), txn)
    writer.record(Stream.EVENTS, [stream_ordering])
    state_key = pdu.get("state_key")
    if state_key is not None:
        await state_store.set_current_state(conn, room_id, {(pdu["type"], state_key): event_id})
        if pdu["type"] == MEMBER:
            await room_store.set_membership(
                conn, room_id, state_key, pdu["content"]["membership"], event_id, pdu["sender"], stream_ordering
            )
    return Sent(event_id, room_id, stream_ordering, pdu, state_group)
