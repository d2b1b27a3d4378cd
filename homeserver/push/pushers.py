"""HTTP pushers: sending notifications to push gateways (push-gateway-api.md, and
client-server-api "Push Notifications").

Sending never blocks a send. The event's transaction records the push actions; the
change feed tells the pool once they are readable (``on_change``: the change names the
users with pushers it notifies), and each pusher with something to send gets a worker
task that posts the notifications in order and records how far it got
(``pushers.last_stream_ordering``), retrying with exponential backoff while the gateway
fails. The pool runs in one process at a time (``run``, under the ``pushers`` lease), so
a notification is pushed once; the feed brings it the changes other processes write.
Nothing is lost across restarts or a change of owner: the pool starts with a catch-up
pass over every pusher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import aiohttp
import orjson

from homeserver.clock import Clock
from homeserver.events.push_rules import tweaks_of
from homeserver.storage import events as event_store
from homeserver.storage import push as store
from homeserver.storage.db import Database
from homeserver.streams import Change, ChangeFeed, Stream

log = logging.getLogger(__name__)

NOTIFY_PATH = "/_matrix/push/v1/notify"
EVENT_ID_ONLY = "event_id_only"


class GatewayError(Exception):
    """The push gateway answered with an error status or a body that is not the spec's."""


class PusherPool:
    batch = 20
    initial_backoff_s = 1.0
    max_backoff_s = 300.0
    # A notification that keeps failing for longer than this is dropped, so one broken
    # gateway cannot hold a pusher back for ever.
    give_up_after_s = 3600.0
    request_timeout_s = 10.0

    def __init__(self, db: Database, feed: ChangeFeed, clock: Clock) -> None:
        self._db = db
        self._feed = feed
        self._clock = clock
        self._running = False
        self._users: set[str] = set()
        self._readers: set[str] = set()
        self._badges: set[int] = set()
        self._catch_up = True
        self._wake = asyncio.Event()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._upto: dict[int, int] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def run(self) -> None:
        """Send notifications until cancelled, starting with a pass over every pusher
        (notifications left from before a restart, or by the previous owner)."""
        self._running, self._catch_up = True, True
        self._wake.set()
        try:
            await self._run()
        finally:
            self._running = False
            workers = list(self._workers.values())
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def on_change(self, change: Change) -> None:
        """A change is readable: send the notifications it recorded, and the new badge
        counts of users who read something."""
        if not self._running or self._closed or not (change.push_users or change.readers):
            return
        self._users.update(change.push_users)
        self._readers.update(change.readers)
        self._wake.set()

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def busy(self) -> bool:
        """Whether any notification is being sent or waits to be (for tests and metrics)."""
        return self._wake.is_set() or any(not t.done() for t in self._workers.values())

    async def _run(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            users, catch_up, readers = self._users, self._catch_up, self._readers
            self._users, self._catch_up, self._readers = set(), False, set()
            try:
                upto = self._feed.readable(Stream.EVENTS)
                async with self._db.pool.acquire() as conn:
                    if catch_up:
                        ids = await store.pushers_with_pending(conn, upto)
                    else:
                        ids = [p.id for user_id in users for p in await store.pushers_for_user(conn, user_id)]
                    badges = [p.id for user_id in readers for p in await store.pushers_for_user(conn, user_id)]
                self._badges.update(badges)
                for pusher_id in {*ids, *badges}:
                    self._ensure_worker(pusher_id, upto)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pusher pool: could not look for notifications to send")
                self._users |= users
                self._catch_up |= catch_up
                self._readers |= readers
                await asyncio.sleep(self.initial_backoff_s)
                self._wake.set()

    def _ensure_worker(self, pusher_id: int, upto: int) -> None:
        self._upto[pusher_id] = max(self._upto.get(pusher_id, 0), upto)
        if pusher_id not in self._workers:
            self._workers[pusher_id] = asyncio.get_running_loop().create_task(
                self._work(pusher_id), name=f"pusher-{pusher_id}"
            )

    async def _work(self, pusher_id: int) -> None:
        try:
            while True:
                upto = self._upto[pusher_id]
                async with self._db.pool.acquire() as conn:
                    pusher = await store.get_pusher(conn, pusher_id)
                    pending = (
                        await store.pending_push_actions(
                            conn, pusher.user_id, pusher.last_stream_ordering, upto, self.batch
                        ) if pusher is not None else []
                    )
                if pusher is None:
                    break
                if not pending:
                    if pusher_id in self._badges:
                        self._badges.discard(pusher_id)
                        await self._send_badge(pusher)
                        continue
                    # No await between this check and leaving: a poke after it starts a new worker.
                    if self._upto[pusher_id] == upto:
                        break
                    continue
                for action in pending:
                    if not await self._deliver(pusher, action):
                        return
                    async with self._db.pool.acquire() as conn:
                        await store.advance_pusher(conn, pusher.id, action.stream_ordering)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pusher %d: stopped", pusher_id)
        finally:
            self._workers.pop(pusher_id, None)
            self._upto.pop(pusher_id, None)
            self._badges.discard(pusher_id)

    async def _deliver(self, pusher: store.Pusher, action: store.PushAction) -> bool:
        """Send one notification, retrying with backoff; False if the gateway rejected
        the pushkey (the pusher is then removed)."""
        loop = asyncio.get_running_loop()
        first_failure: float | None = None
        backoff = self.initial_backoff_s
        while True:
            try:
                notification = await self._notification(pusher, action)
                rejected = await self._post(pusher.data["url"], notification)
            except (aiohttp.ClientError, asyncio.TimeoutError, GatewayError) as e:
                now = loop.time()
                first_failure = first_failure if first_failure is not None else now
                if now - first_failure >= self.give_up_after_s:
                    log.warning("pusher %d: giving up on %s after %.0fs: %s", pusher.id, action.event_id,
                                now - first_failure, e)
                    return True
                log.warning("pusher %d: push of %s failed (%s); retrying in %.1fs", pusher.id, action.event_id,
                            e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if pusher.pushkey in rejected:
                log.info("pusher %d: the gateway rejected pushkey of app %s; removing it", pusher.id, pusher.app_id)
                async with self._db.pool.acquire() as conn:
                    await store.delete_pushkeys(conn, pusher.app_id, [pusher.pushkey])
                return False
            return True

    async def _send_badge(self, pusher: store.Pusher) -> None:
        """One try: a lost badge update is mended by the next notification or receipt."""
        async with self._db.pool.acquire() as conn:
            unread = await store.total_unread(conn, pusher.user_id)
        notification = {"counts": {"unread": unread} if unread else {}, "devices": [_device(pusher, {})]}
        try:
            rejected = await self._post(pusher.data["url"], notification)
        except (aiohttp.ClientError, asyncio.TimeoutError, GatewayError) as e:
            log.info("pusher %d: badge update failed: %s", pusher.id, e)
            return
        if pusher.pushkey in rejected:
            async with self._db.pool.acquire() as conn:
                await store.delete_pushkeys(conn, pusher.app_id, [pusher.pushkey])

    async def _notification(self, pusher: store.Pusher, action: store.PushAction) -> dict[str, Any]:
        """The body of POST /_matrix/push/v1/notify for one event (push_notifier.yaml)."""
        async with self._db.pool.acquire() as conn:
            event = await event_store.get_event(conn, action.event_id)
            unread = await store.total_unread(conn, pusher.user_id)
            state = await store.room_push_state(conn, action.room_id, event.sender) if event is not None else {}
        device = _device(pusher, tweaks_of(action.actions))
        data = device["data"]
        notification: dict[str, Any] = {
            "event_id": action.event_id, "room_id": action.room_id, "devices": [device],
            # "Counts whose value is zero should be omitted."
            "counts": {"unread": unread} if unread else {},
        }
        if data.get("format") == EVENT_ID_ONLY or event is None:
            return notification
        notification.update(type=event.type, sender=event.sender)
        tweaks = device["tweaks"]
        notification["prio"] = "high" if tweaks.get("highlight") is True or tweaks.get("sound") else "low"
        if event.redacted_by is None:
            notification["content"] = event.pdu.get("content", {})
        if event.type == "m.room.member":
            notification["user_is_target"] = event.state_key == pusher.user_id
        for key, event_type, field_name in (
            ("sender_display_name", "m.room.member", "displayname"),
            ("room_name", "m.room.name", "name"),
            ("room_alias", "m.room.canonical_alias", "alias"),
        ):
            value = _content_field(state.get(event_type), field_name)
            if value:
                notification[key] = value
        return notification

    async def _post(self, url: str, notification: dict[str, Any]) -> list[str]:
        """POST to the gateway; the pushkeys it rejected."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.request_timeout_s))
        async with self._session.post(
            url, data=orjson.dumps({"notification": notification}), headers={"Content-Type": "application/json"},
            allow_redirects=False,
        ) as resp:
            if resp.status != 200:
                raise GatewayError(f"HTTP {resp.status}")
            try:
                body = orjson.loads(await resp.read())
            except orjson.JSONDecodeError:
                raise GatewayError("the response is not JSON") from None
        rejected = body.get("rejected") if isinstance(body, dict) else None
        return [k for k in rejected if isinstance(k, str)] if isinstance(rejected, list) else []


def _device(pusher: store.Pusher, tweaks: dict[str, Any]) -> dict[str, Any]:
    # "the data dictionary passed in at pusher creation minus the url key"
    data = {k: v for k, v in pusher.data.items() if k != "url"}
    return {
        "app_id": pusher.app_id, "pushkey": pusher.pushkey, "pushkey_ts": pusher.pushkey_ts // 1000,
        "data": data, "tweaks": tweaks,
    }


def _content_field(event_json: str | None, name: str) -> str | None:
    if event_json is None:
        return None
    try:
        content = orjson.loads(event_json).get("content")
    except orjson.JSONDecodeError:
        return None
    value = content.get(name) if isinstance(content, dict) else None
    return value if isinstance(value, str) else None
