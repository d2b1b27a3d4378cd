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
from homeserver.locks import KeyedLock
from homeserver.media.remote import NoFederation
from homeserver.media.repository import MediaRepository
from homeserver.media.store import FileMediaStore
from homeserver.metrics import Metrics
from homeserver.push.pushers import PusherPool
from homeserver.ratelimit import RateLimiter
from homeserver.rooms.group_commit import MessageWriter
from homeserver.rooms.typing import TypingService
from homeserver.storage.db import Database
from homeserver.storage.devices import AccessToken
from homeserver.storage.migrate import migrate
from homeserver.streams import ChangeFeed
from homeserver.streams.leases import Leases
from homeserver.streams.peers import Peers
from homeserver.timeline.push import RulesCache
from homeserver.users.passwords import PasswordHasher
from homeserver.users.presence import PresenceService

if TYPE_CHECKING:
    from homeserver.rooms.send import RoomHead

# The caches the change feed invalidates, by the names writers give them.
ACCESS_TOKENS = "access_tokens"
ROOM_HEADS = "room_heads"


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
    # Every change a client can see goes through the feed (homeserver/streams).
    feed: ChangeFeed
    peers: Peers
    leases: Leases
    push_rules: RulesCache
    pushers: PusherPool
    # Event JSON as signed, by event ID, and state entries by (state group, keys): both
    # immutable once written, read by every send.
    event_cache: LruCache[str, dict[str, Any]]
    # Valid access tokens by hash, tagged with their user and device (ACCESS_TOKENS).
    access_tokens: LruCache[bytes, AccessToken]
    # Each room's version, which never changes.
    room_versions: LruCache[str, str]
    # Writes concurrent messages in one statement (rooms.group_commit).
    messages: MessageWriter
    # What sending a message needs of each room (rooms.send.RoomHead), tagged with the
    # room and its local members (ROOM_HEADS).
    room_heads: LruCache[str, RoomHead]
    state_cache: LruCache[tuple[int, frozenset[tuple[str, str]]], dict[tuple[str, str], str]]
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
        """Open the database (or use ``db``), apply migrations, load the signing key, join
        the other server processes on the database and start the background jobs this
        process comes to own."""
        media_files = FileMediaStore.open(config.path(config.media.store_path))
        db = db or await Database.open(config)
        try:
            async with db.pool.acquire() as conn:
                await migrate(conn)
                feed = await ChangeFeed.load(conn)
            hs = cls._build(config, db, clock or Clock(), feed, media_files)
            await hs._start_services()
        except BaseException:
            await db.close()
            raise
        return hs

    @classmethod
    def _build(cls, config: Config, db: Database, clock: Clock, feed: ChangeFeed, media_files: FileMediaStore) -> HomeServer:
        peers = Peers(feed, db.connect_one)
        return cls(
            config=config,
            db=db,
            server_key=load_or_create(config.path(config.server.signing_key_path)),
            clock=clock,
            ratelimiter=RateLimiter(db, clock, enabled=config.rate_limits.enabled,
                                    processes=lambda: len(peers.others) + 1),
            passwords=PasswordHasher(config.auth.password_hash),
            metrics=Metrics(),
            room_locks=KeyedLock(),
            feed=feed,
            peers=peers,
            leases=Leases(peers),
            push_rules=RulesCache(),
            pushers=PusherPool(db, feed, clock),
            event_cache=LruCache(50_000),
            access_tokens=LruCache(100_000),
            room_heads=LruCache(10_000),
            messages=MessageWriter(db.pool, clock.now_ms),
            room_versions=LruCache(100_000),
            state_cache=LruCache(20_000),
            presence=PresenceService(config.presence, db, clock, feed),
            typing=TypingService(db, clock, feed),
            media=MediaRepository.build(
                config.media, config.server.server_name, db, clock, media_files, NoFederation(),
            ),
        )

    async def _start_services(self) -> None:
        self.feed.register_cache(ACCESS_TOKENS, self.access_tokens.invalidate)
        self.feed.register_cache(ROOM_HEADS, self.room_heads.invalidate)
        self.feed.register_cache(PresenceService.CACHE, self.presence.forget)
        self.feed.subscribe(self.pushers.on_change)
        self.feed.subscribe(self.presence.on_change)
        self.feed.subscribe(self.typing.on_change)
        await self.peers.start()
        self._register_gauges()
        self.leases.add("pushers", self.pushers.run)
        if self.presence.enabled:
            self.leases.add("presence-timeouts", self.presence.sweep_forever)
        self.leases.add("typing-expiry", self.typing.expire_forever)
        self.leases.add("rate-limit-cleanup", self.ratelimiter.clean_forever)
        self.leases.add("media-expiry", self.media.expire_forever)
        self.leases.start()

    def _register_gauges(self) -> None:
        pool = self.db.pool
        self.metrics.gauge("homeserver_sync_parked", "Parked /sync long-polls", lambda: self.feed.waiting)
        self.metrics.gauge("homeserver_db_pool_connections", "Open database connections in the pool", pool.get_size)
        self.metrics.gauge("homeserver_db_pool_idle", "Idle database connections in the pool", pool.get_idle_size)
        self.metrics.gauge("homeserver_processes", "Server processes on the database, this one included",
                           lambda: len(self.peers.others) + 1)

    async def close(self) -> None:
        self.feed.close()
        await self.leases.close()
        await self.peers.close()
        await self.pushers.close()
        await self.db.close()
