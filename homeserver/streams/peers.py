"""Other server processes on the same database: how changes and positions cross between
them (DESIGN.md "Scale": the processes share nothing but PostgreSQL).

Each process keeps three connections of its own. On the first it LISTENs on one channel
and holds a session advisory lock naming it, ``(PROCESS_LOCK_CLASS, number)``, for as
long as it lives: the set of those locks is the set of live processes. The second sends
notifications, the third asks PostgreSQL which writes are in flight.

Alone, a process needs none of it: its own writes are all there are, and ``Positions``
knows them exactly. A process that starts while others run announces itself ("join")
and serves only once each of them has answered, so none of them can hand a reader a
position past its writes. From then on, in every process:

- a committed change is announced to the others with NOTIFY (split to fit PostgreSQL's
  payload limit; the changes committed meanwhile go out together in one statement); a
  change that must be seen everywhere before it is answered (an ended session) waits
  until every other process has confirmed it;
- a position is readable only once no write of its stream that could hold a lower
  position is in flight anywhere. Every write holds a shared advisory lock of its stream
  from before it draws a position until it commits (storage/stream_locks.py), so one
  query (``stream_writers``, migration 0020) reads the sequence's last value and then the
  writes holding those locks: every position up to that value is settled once all of
  those writes have ended. Writes that roll back send nothing, so a poll that finds
  writes still running polls again shortly.

A process that loses its connection stops dispatching (it cannot know what the others
wrote meanwhile), reconnects with backoff, joins again, wakes every waiter and drops
every cache: everyone catches up from the database; it also asks the others to catch up
("reset"), as they may have missed its announcements. A process that sees another
disappear does the same, since the dead one may have committed a change it never
announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from homeserver.storage.stream_locks import WRITE_LOCK_CLASS
from homeserver.streams import changes as change_codec
from homeserver.streams.changes import Change
from homeserver.streams.feed import ChangeFeed
from homeserver.streams.positions import ALL_STREAMS, Stream

log = logging.getLogger(__name__)

CHANNEL = "homeserver_feed"
PROCESS_LOCK_CLASS = 0x70726F63  # "proc"
# How long a process waits for the others to answer its join, or to confirm a change.
ANSWER_TIMEOUT_S = 10.0
# While other processes run: how often the set of live processes is checked.
LIVENESS_INTERVAL_S = 1.0
RECONNECT_BACKOFF_S = (0.1, 5.0)
# Opens a connection outside the pool, named for pg_stat_activity.
Connect = Callable[[str], Awaitable[asyncpg.Connection]]
APPLICATION_NAME = "homeserver-feed"
_DATABASE_ERRORS = (OSError, ConnectionError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass
class _Snapshot:
    """Positions up to ``last`` are settled once every one of ``writers`` has ended."""

    last: int
    writers: frozenset[str]


@dataclass
class Peers:
    feed: ChangeFeed
    connect: Connect
    number: int = field(default_factory=lambda: secrets.randbelow(2**31 - 1) + 1)
    # Live other processes, by number.
    others: set[int] = field(default_factory=set)
    connected: bool = False
    _settled: list[int] = field(default_factory=list)
    _snapshots: dict[Stream, list[_Snapshot]] = field(default_factory=dict)
    _listen: asyncpg.Connection | None = None
    _send: asyncpg.Connection | None = None
    _poll: asyncpg.Connection | None = None
    _listen_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _outbox: list[str] = field(default_factory=list)
    _outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _answers: dict[str, tuple[set[int], asyncio.Event]] = field(default_factory=dict)
    _poll_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _on_connect: list[Callable[[asyncpg.Connection], Awaitable[None]]] = field(default_factory=list)
    _on_disconnect: list[Callable[[], None]] = field(default_factory=list)
    _closing: bool = False
    _started: bool = False

    @property
    def origin(self) -> str:
        return str(self.number)

    @property
    def active(self) -> bool:
        """Whether other processes may be writing (or this one cannot tell)."""
        return bool(self.others) or not self.connected

    def settled(self, stream: Stream) -> int:
        # Frozen while disconnected: what the others wrote meanwhile is unknown.
        return self._settled[stream]

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, join the other processes, and keep at it in the background."""
        self.feed.peers = self
        self._settled = [self.feed.readable(s) for s in ALL_STREAMS]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_forever(), name="feed-send")]
        await self._connect()
        self._tasks += [
            loop.create_task(self._poll_forever(), name="feed-settle"),
            loop.create_task(self._watch_forever(), name="feed-peers"),
        ]

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in (self._listen, self._send, self._poll):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()

    def on_connect(self, callback: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
        """Run ``callback(listen_connection)`` after every (re)connection (leases)."""
        self._on_connect.append(callback)

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        self._on_disconnect.append(callback)

    async def on_listen_connection(self, query: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        """Run a query on the connection whose session locks live as long as this
        process's membership (leases take theirs there)."""
        async with self._listen_lock:
            if self._listen is None or self._listen.is_closed():
                raise ConnectionError("not connected")
            return await query(self._listen)

    async def _connect(self) -> None:
        opened: list[asyncpg.Connection] = []
        try:
            for _ in range(3):
                opened.append(await self.connect(APPLICATION_NAME))
            listen, send, poll = opened
            await listen.add_listener(CHANNEL, self._on_notification)
            for conn in opened:
                conn.add_termination_listener(self._on_terminated)
            while not await listen.fetchval("SELECT pg_try_advisory_lock($1, $2)", PROCESS_LOCK_CLASS, self.number):
                self.number = secrets.randbelow(2**31 - 1) + 1
        except BaseException:
            for conn in opened:
                conn.terminate()
            raise
        self._listen, self._send, self._poll = listen, send, poll
        self._outbox_ready.set()  # anything queued while disconnected goes out now
        state = await self._writers()
        if not self._started:
            state = await self._wait_for_writes_in_flight(state)
        self.others = set(state["processes"]) - {self.number}
        if self.others:
            await self._ask(f"j{self.number}", set(self.others), [f"j{self.number}"])
        self._settle(state)
        self.connected = True
        for callback in self._on_connect:
            await callback(listen)

    async def _wait_for_writes_in_flight(self, state: dict[str, Any]) -> dict[str, Any]:
        """At start-up the feed knows only the sequence's last value, which may include
        positions of writes still in flight (another process's, or a killed one's being
        rolled back): wait until those writes end, then every position up to the value
        read with them is settled."""
        first = {w for writers in state["writers"].values() for w in writers}
        deadline = asyncio.get_running_loop().time() + ANSWER_TIMEOUT_S
        current = state
        while first & {w for writers in current["writers"].values() for w in writers}:
            if asyncio.get_running_loop().time() > deadline:
                log.warning("writes in flight at start-up did not end within %.0f s", ANSWER_TIMEOUT_S)
                break
            await asyncio.sleep(0.005)
            current = await self._writers()
        self._settled = [int(state["last"])] * len(ALL_STREAMS)
        self.feed.start_at(int(state["last"]))
        self._started = True
        return current

    def _on_terminated(self, conn: asyncpg.Connection) -> None:
        if conn in (self._listen, self._send, self._poll):
            self._lost()

    def _lost(self) -> None:
        if self._closing or not self.connected:
            return
        log.error("lost the database connection that joins this process to the others; "
                  "delivery pauses until it is back")
        self.connected = False
        for callback in self._on_disconnect:
            callback()
        self._poll_wanted.set()

    async def _reconnect(self) -> None:
        delay = RECONNECT_BACKOFF_S[0]
        for conn in (self._listen, self._send, self._poll):
            if conn is not None and not conn.is_closed():
                conn.terminate()
        while not self._closing:
            try:
                await self._connect()
            except _DATABASE_ERRORS as e:
                log.warning("database still unreachable (%s); retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_BACKOFF_S[1])
                continue
            log.info("database connection back; catching up from the database")
            self._queue([f"r{self.number}"])  # the others may have missed what this one wrote
            self.feed.forget_everything()
            self.feed.advance()
            return

    # -- announcing ---------------------------------------------------------------------

    async def publish(self, change: Change, confirm: bool) -> None:
        """Queue the change for the others; with ``confirm``, wait until they have it."""
        payloads = change_codec.encode(change, self.origin)
        if not (confirm and self.others):
            self._queue(["c" + p for p in payloads])
            return
        ack = secrets.token_hex(8)
        await self._ask(ack, set(self.others), ["c" + p[:-1] + f',"a":"{ack}"}}' for p in payloads])

    def _queue(self, payloads: list[str]) -> None:
        self._outbox += payloads
        self._outbox_ready.set()

    async def _send_forever(self) -> None:
        """Send what is queued, all of it in one statement (group commit of notifications)."""
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            if not self._outbox or self._send is None or self._send.is_closed():
                continue
            payloads, self._outbox = self._outbox, []
            try:
                await self._send.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) p", CHANNEL, payloads)
            except _DATABASE_ERRORS as e:
                # The others catch up when this process comes back and asks them to.
                log.warning("could not announce %d change(s) to the other processes: %s", len(payloads), e)
                self._lost()

    async def _ask(self, question: str, others: set[int], payloads: list[str]) -> None:
        """Send, then wait until each of ``others`` answered ``question`` or is gone."""
        done = asyncio.Event()
        self._answers[question] = (others, done)
        try:
            self._queue(payloads)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), ANSWER_TIMEOUT_S)
            waiting = self._answers[question][0] & self.others
            if waiting:
                log.warning("processes %s did not answer %r within %.0f s", sorted(waiting), question[:20],
                            ANSWER_TIMEOUT_S)
        finally:
            self._answers.pop(question, None)

    def _answered(self, question: str, number: int) -> None:
        entry = self._answers.get(question)
        if entry is not None:
            entry[0].discard(number)
            if not entry[0]:
                entry[1].set()

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        kind, body = payload[:1], payload[1:]
        try:
            if kind == "c":
                raw = orjson.loads(body)
                change = change_codec.decode(raw)
                if change.origin == self.origin:
                    return
                self.feed.receive(change)
                if isinstance(raw.get("a"), str):
                    self._queue([f"a{raw['a']}|{self.number}"])
            elif kind == "j":
                self._joined(int(body))
            elif kind == "a":
                question, _, number = body.rpartition("|")
                self._answered(question, int(number))
            elif kind == "r" and int(body) != self.number:
                log.info("process %s asks everyone to catch up from the database", body)
                self.feed.forget_everything()
        except (ValueError, orjson.JSONDecodeError) as e:
            log.warning("ignored a malformed notification on %s: %s", CHANNEL, e)

    def _joined(self, number: int) -> None:
        if number == self.number:
            return
        if not self.others:
            # Alone until now: everything this process has handed out is settled.
            self._settled = [max(a, self.feed.readable(s)) for a, s in zip(self._settled, ALL_STREAMS)]
        self.others.add(number)
        log.info("process %d joined; %d other process(es) now", number, len(self.others))
        self._queue([f"aj{number}|{self.number}"])

    # -- settling positions -----------------------------------------------------------

    def settle(self) -> None:
        """Some change waits for positions to settle: poll soon."""
        self._poll_wanted.set()

    async def _writers(self) -> dict[str, Any]:
        if self._poll is None or self._poll.is_closed():
            self._lost()
            raise ConnectionError("not connected")
        raw = await self._poll.fetchval("SELECT stream_writers($1, $2)", WRITE_LOCK_CLASS, PROCESS_LOCK_CLASS)
        return orjson.loads(raw) if isinstance(raw, str) else raw

    def _settle(self, state: dict[str, Any]) -> bool:
        """Fold one ``stream_writers`` answer in; whether writes are still running."""
        last = int(state["last"])
        running: dict[Stream, frozenset[str]] = {}
        for stream, writers in state["writers"].items():
            if int(stream) in Stream._value2member_map_:
                running[Stream(int(stream))] = frozenset(writers)
        busy = False
        for stream in ALL_STREAMS:
            writers = running.get(stream, frozenset())
            snapshots = [s for s in self._snapshots.get(stream, []) if not s.writers.isdisjoint(writers)]
            resolved = [s.last for s in self._snapshots.get(stream, []) if s.writers.isdisjoint(writers)]
            if not writers:
                resolved.append(last)
            elif snapshots and snapshots[-1].writers == writers:
                snapshots[-1] = _Snapshot(last, writers)
            else:
                snapshots.append(_Snapshot(last, writers))
            if resolved:
                self._settled[stream] = max(self._settled[stream], *resolved)
            self._snapshots[stream] = snapshots
            busy |= bool(snapshots)
        return busy

    async def _poll_forever(self) -> None:
        delay = 0.001
        while True:
            await self._poll_wanted.wait()
            self._poll_wanted.clear()
            if not self.connected:
                await self._reconnect()
                continue
            try:
                state = await self._writers()
            except _DATABASE_ERRORS as e:
                log.warning("could not read the writes in flight: %s", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                self._poll_wanted.set()
                continue
            busy = self._settle(state)
            self._check_processes(state["processes"])
            self.feed.advance()
            if busy and self.feed.has_pending():
                # A write that rolls back announces nothing: look again shortly.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poll_wanted.wait(), delay)
                self._poll_wanted.set()
                delay = min(delay * 2, 0.05)
            else:
                delay = 0.001

    def _check_processes(self, processes: list[int]) -> None:
        live = set(processes) - {self.number}
        gone = self.others - live
        for number in live - self.others:
            self._joined(number)
        if gone:
            self.others -= gone
            log.info("process(es) %s left; %d other process(es) now; catching up", sorted(gone), len(self.others))
            for entry in self._answers.values():
                entry[0].difference_update(gone)
                if not entry[0]:
                    entry[1].set()
            self.feed.forget_everything()

    async def _watch_forever(self) -> None:
        """While others run, notice the ones that die (their announcements may be lost)."""
        while True:
            await asyncio.sleep(LIVENESS_INTERVAL_S)
            if self.connected and self.others:
                self._poll_wanted.set()
