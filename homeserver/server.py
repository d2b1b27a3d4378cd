"""The HomeServer: every service the handlers need, built once from the frozen config.

There is no module-level mutable state anywhere; everything hangs off this object, which
lives on the aiohttp application under ``HOMESERVER``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeserver.cache import LruCache
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.keys import ServerKey, load_or_create
from homeserver.media.remote import NoFederation
from homeserver.media.repository import MediaRepository
from homeserver.media.store import FileMediaStore
from homeserver.metrics import Metrics
from homeserver.push import PushService
from homeserver.ratelimit import RateLimiter
from homeserver.rooms.group_commit import MessageWriter
from homeserver.rooms.locks import KeyedLock
from homeserver.rooms.typing import TypingService
from homeserver.storage.db import Database
from homeserver.storage.devices import AccessToken
from homeserver.storage.migrate import migrate
from homeserver.sync.notifier import Notifier
from homeserver.sync.streams import StreamTracker
from homeserver.users.passwords import PasswordHasher
from homeserver.users.presence import PresenceService

if TYPE_CHECKING:
    from homeserver.rooms.send import RoomHead


@dataclass
class HomeServer:
    config: Config
    db: Database
    server_key: ServerKey
    clock: Clock
    ratelimiter: RateLimiter
    passwords: PasswordHasher
    metrics: Metrics
    room_locks: KeyedLock
    notifier: Notifier
    streams: StreamTracker
    push: PushService
    # Event JSON as signed, by event ID, and state entries by (state group, keys): both
    # immutable once written, read by every send.
    event_cache: LruCache[str, dict[str, Any]]
    # Valid access tokens by hash (users.sessions.authenticate; forget_sessions empties it).
    access_tokens: LruCache[bytes, AccessToken]
    # Each room's version, which never changes.
    room_versions: LruCache[str, str]
    # Writes concurrent messages in one statement (rooms.group_commit).
    messages: MessageWriter
    # What sending a message needs of each room (rooms.send.RoomHead).
    room_heads: LruCache[str, RoomHead]
    state_cache: LruCache[tuple[int, frozenset[tuple[str, str]]], dict[tuple[str, str], str]]
    # Presence (its timeout sweep runs between presence.start() and stop()) and the
    # in-memory typing notices (typing.stop() cancels their timers).
    presence: PresenceService
    typing: TypingService
    # Uploads, downloads and thumbnails; files under media.store_path in the data dir.
    media: MediaRepository

    @property
    def server_name(self) -> str:
        return self.config.server.server_name

    def is_mine(self, user_id: str) -> bool:
        return user_id.endswith(":" + self.server_name)

    @classmethod
    async def start(cls, config: Config, db: Database | None = None, clock: Clock | None = None) -> HomeServer:
        """Open the database (or use ``db``), apply migrations, load the signing key."""
        media_files = FileMediaStore.open(config.path(config.media.store_path))
        db = db or await Database.open(config)
        try:
            async with db.pool.acquire() as conn:
                await migrate(conn)
                streams = await StreamTracker.load(conn)
        except BaseException:
            await db.close()
            raise
        clock = clock or Clock()
        notifier = Notifier()
        return cls(
            config=config,
            db=db,
            server_key=load_or_create(config.path(config.server.signing_key_path)),
            clock=clock,
            ratelimiter=RateLimiter(clock, enabled=config.rate_limits.enabled),
            passwords=PasswordHasher(config.auth.password_hash),
            metrics=Metrics(),
            room_locks=KeyedLock(),
            notifier=notifier,
            streams=streams,
            push=PushService.create(db, streams, clock),
            event_cache=LruCache(50_000),
            access_tokens=LruCache(100_000),
            room_heads=LruCache(10_000),
            messages=MessageWriter(db.pool, clock.now_ms),
            room_versions=LruCache(100_000),
            state_cache=LruCache(20_000),
            presence=PresenceService(config.presence, db, clock, streams, notifier),
            typing=TypingService(clock, notifier),
            media=MediaRepository.build(
                config.media, config.server.server_name, db, clock, media_files, NoFederation(),
            ),
        )

    async def close(self) -> None:
        await self.push.close()
        await self.db.close()
