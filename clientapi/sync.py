"""Client methods: /sync, the handlers registered with ``@client.on``, and
``sync_forever``.

Each batch is handled whole before the next is asked for: the room store is brought up
to date, the handlers run in the order the events came, and only then is the position
saved. A program stopped between batches resumes exactly after the last one it handled.
A process resuming from a saved position loads the rooms' state first, so rooms and
members are whole before the first handler runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from clientapi.api import sync as sync_api
from clientapi.errors import MatrixRequestError, ServerError, TransportError
from clientapi.events import Event
from clientapi.messaging import MessagingAPI
from clientapi.responses import JoinedRoomUpdate, SyncResponse, parse_sync
from clientapi.rooms import Room
from clientapi.store import MemoryStore, SyncStore

log = logging.getLogger("clientapi.sync")

E = TypeVar("E")
Handler = Callable[[Room | None, Any], Awaitable[None]]

_STOPPED = object()
_STATE_ONLY = {"room": {"timeline": {"limit": 1}, "ephemeral": {"not_types": ["*"]}},
               "presence": {"not_types": ["*"]}}


class SyncAPI(MessagingAPI):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handlers: list[tuple[type, Handler]] = []
        self._stopping = asyncio.Event()
        self.next_batch: str | None = None
        # True once this process has the rooms' state (any sync applied to the store).
        self._has_state = False
        self._rng = random.Random()

    def on(self, event_class: type[E]) -> Callable[[Callable[[Room | None, E], Awaitable[None]]], Any]:
        """Register ``async def handler(room, event)`` for events of ``event_class`` (and its
        subclasses): ``Event`` for every room event, ``MessageEvent``, ``MemberEvent``,
        ``ReactionEvent``, ``InviteEvent`` (room None), ``EphemeralEvent``,
        ``AccountDataEvent``, ``PresenceEvent`` (room None)."""
        def register(handler: Callable[[Room | None, E], Awaitable[None]]) -> Any:
            self.add_handler(event_class, handler)
            return handler
        return register

    def add_handler(self, event_class: type, handler: Handler) -> None:
        self._handlers.append((event_class, handler))

    async def sync_once(self, *, since: str | None = None, timeout_ms: int = 0, full_state: bool = False,
                        filter: str | dict[str, Any] | None = None, dispatch: bool = True) -> SyncResponse:
        """One /sync from ``since`` (default: where the last one ended): the store is
        updated and, with ``dispatch``, the handlers run."""
        request = sync_api.sync(since=since if since is not None else self.next_batch, timeout_ms=timeout_ms,
                                full_state=full_state, filter=filter)
        response = parse_sync(await self.request(request), request.describe())
        self.store.apply(response)
        self._has_state = True
        if dispatch:
            await self.dispatch(response)
        self.next_batch = response.next_batch
        return response

    async def dispatch(self, response: SyncResponse, *, invites_only: bool = False) -> None:
        """Run the handlers for everything in ``response``: each room's events in order,
        the rooms side by side (a slow handler in one room does not hold up the others)."""
        for invite in response.invited:
            await self._emit(None, invite)
        if invites_only:
            return
        for data in response.account_data:
            await self._emit(None, data)
        await asyncio.gather(*(self._dispatch_room(update) for update in response.joined))
        for left in response.left:
            room = Room(left.room_id)
            for event in left.state + left.timeline:
                if event.state_key is not None:
                    room.state[(event.type, event.state_key)] = event
            for event in left.timeline:
                await self._emit(room, event)
        for presence in response.presence:
            await self._emit(None, presence)

    async def _dispatch_room(self, update: JoinedRoomUpdate) -> None:
        room = self.store.rooms.get(update.room_id)
        for item in (*update.timeline, *update.ephemeral, *update.account_data):
            await self._emit(room, item)

    async def _emit(self, room: Room | None, item: Any) -> None:
        for event_class, handler in self._handlers:
            if isinstance(item, event_class):
                try:
                    await handler(room, item)
                except Exception:
                    # One handler's bug must not stop the loop nor starve the others.
                    what = item.event_id if isinstance(item, Event) else type(item).__name__
                    log.exception("handler %s failed on %s", getattr(handler, "__qualname__", handler), what)

    def stop(self) -> None:
        """Make ``sync_forever`` return once the batch in hand is handled."""
        self._stopping.set()

    async def sync_forever(
        self, *, store: SyncStore | None = None, timeout_ms: int = 30_000,
        filter: str | dict[str, Any] | None = None, skip_backlog: bool = False,
    ) -> None:
        """Sync until ``stop()``: keep the room store current and run the handlers.

        ``store`` keeps the position across restarts (``FileStore``); the default keeps it
        in memory. ``skip_backlog``: when there is no saved position, the first sync only
        learns the rooms (and answers invites), so a new bot does not act on old history.
        A server that is down is waited for (the transport's retries, then a bounded
        backoff, again and again); an error the server answers on purpose (a bad token)
        ends the loop by raising it.
        """
        store = store or MemoryStore(self.next_batch)
        try:
            await self._loop(store, await store.load(), timeout_ms, filter, skip_backlog)
        finally:
            self._stopping.clear()  # a later sync_forever starts afresh

    async def _loop(self, store: SyncStore, since: str | None, timeout_ms: int,
                    filter: str | dict[str, Any] | None, skip_backlog: bool) -> None:
        resuming = since is not None
        outages = 0
        while not self._stopping.is_set():
            request = sync_api.sync(since=since, timeout_ms=0 if resuming or since is None else timeout_ms,
                                    filter=filter)
            try:
                if resuming and not self._has_state:
                    await self._until_stopped(self._load_room_state())
                body = await self._until_stopped(self.request(request))
            except (TransportError, ServerError) as e:
                # The transport's retries are spent (a server down for a while): wait,
                # with the same bounded backoff and jitter, and try again, forever.
                wait = self.transport.retry.backoff(outages, self._rng)
                outages += 1
                log.warning("sync failed (%s); trying again in %.1f s", e, wait)
                await self._sleep_unless_stopped(wait)
                continue
            if body is _STOPPED:
                break  # stopped while the long-poll was parked
            outages = 0
            response = parse_sync(body, request.describe())
            self.store.apply(response)
            self._has_state = True
            await self.dispatch(response, invites_only=skip_backlog and since is None)
            since = self.next_batch = response.next_batch
            await store.save(since)
            resuming = False

    async def _load_room_state(self) -> None:
        """The rooms' current state, for a loop resuming from a saved position.

        Not ``full_state=true`` with ``since``: not every server keeps the timeline to
        ``since`` then (the spec says it must). A sync without ``since`` and with the
        shortest timelines (1 event; 0 is not allowed) gives the state; the incremental
        sync that follows applies every state change since the saved position on top, in
        order, so the store ends right.
        """
        request = sync_api.sync(timeout_ms=0, filter=_STATE_ONLY)
        self.store.apply(parse_sync(await self.request(request), request.describe()))
        self._has_state = True

    async def _until_stopped(self, call: Awaitable[Any]) -> Any:
        """``call``'s result, or ``_STOPPED`` if ``stop()`` came first (the call is then cancelled)."""
        task = asyncio.ensure_future(call)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, MatrixRequestError, TransportError):
            pass
        return _STOPPED

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass
