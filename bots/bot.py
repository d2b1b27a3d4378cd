"""``Bot``: a class whose decorated methods answer commands and events.

    class EchoBot(Bot):
        @command("echo")
        async def echo(self, ctx, *, text: str):
            '''Say TEXT back to you.'''
            await ctx.reply(text)

A bot answers ``m.text`` messages that start with its prefix, never its own messages,
notices (bots answer nobody's notices, so two bots never loop) nor edits. It joins the
rooms it is invited to by anyone on its allow-list and refuses other invites. Its sync
position is saved after each batch it has handled, so a bot that restarts never
answers a message twice, and a bot that starts for the first time does not answer the
history it finds.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from clientapi import Client, ClientError, Event, InviteEvent, MessageEvent, Room
from clientapi.store import FileStore, MemoryStore, SyncStore

from bots.commands import Command, UsageError, build_command
from bots.config import Cooldown, parse

log = logging.getLogger("bots")

# A bot resuming after downtime asks for this many events per room, so commands sent
# while it was away are answered (the server's default timeline is shorter).
RESUME_TIMELINE_LIMIT = 100
_RESUME_FILTER = {"room": {"timeline": {"limit": RESUME_TIMELINE_LIMIT}}}
_FIRST_FILTER = {"room": {"timeline": {"limit": 1}}}


@dataclass
class Context:
    """What a command handler gets: the room, the message, and ways to answer."""

    bot: Bot
    room: Room
    event: MessageEvent
    command: str  # the name as the sender typed it
    args: str  # the text after the name

    @property
    def client(self) -> Client:
        return self.bot.client

    @property
    def sender(self) -> str:
        return self.event.sender

    async def reply(self, text: str, *, markdown: bool = False, notice: bool = True) -> str:
        """A rich reply to the command (a notice, unless ``notice=False``)."""
        return await self.client.send_text(self.room.room_id, text, markdown=markdown, reply_to=self.event,
                                           msgtype="m.notice" if notice else "m.text")

    async def send(self, text: str, *, markdown: bool = False, notice: bool = True) -> str:
        return await self.client.send_text(self.room.room_id, text, markdown=markdown,
                                           msgtype="m.notice" if notice else "m.text")

    async def react(self, key: str) -> str:
        return await self.client.react(self.room.room_id, self.event.event_id, key)


def on_event(event_class: type) -> Callable[[Any], Any]:
    """Mark ``async def handler(self, room, event)`` to run for events of ``event_class``."""
    def mark(function: Any) -> Any:
        function.__bot_event__ = event_class
        return function
    return mark


class Cooldowns:
    """When each user and each room may next use a command (bounded memory)."""

    def __init__(self, config: Cooldown, clock: Callable[[], float] = time.monotonic, limit: int = 10_000) -> None:
        self.config = config
        self._clock = clock
        self._limit = limit
        self._until: OrderedDict[tuple[str, str], float] = OrderedDict()

    def allow(self, room_id: str, user_id: str, user_seconds: float | None = None) -> bool:
        now = self._clock()
        user_key, room_key = ("user", user_id), ("room", room_id)
        if self._until.get(user_key, 0.0) > now or self._until.get(room_key, 0.0) > now:
            return False
        self._set(user_key, now + (self.config.user_seconds if user_seconds is None else user_seconds))
        self._set(room_key, now + self.config.room_seconds)
        return True

    def _set(self, key: tuple[str, str], until: float) -> None:
        self._until.pop(key, None)
        self._until[key] = until
        while len(self._until) > self._limit:
            self._until.popitem(last=False)


class Bot:
    """Subclass it; set ``Options`` to a frozen dataclass to take options from the config."""

    Options: ClassVar[type | None] = None
    commands: ClassVar[dict[str, Command]] = {}
    event_handlers: ClassVar[list[tuple[type, str]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        commands: dict[str, Command] = {}
        handlers: dict[str, type] = {}  # by method name: an override replaces, never doubles
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if hasattr(value, "__bot_command__"):
                    spec = build_command(value)
                    for name in (spec.name, *spec.aliases):
                        commands[name] = spec
                if hasattr(value, "__bot_event__"):
                    handlers[attr] = value.__bot_event__
        cls.commands = commands
        cls.event_handlers = [(event_class, attr) for attr, event_class in handlers.items()]

    def __init__(
        self, client: Client, *, name: str | None = None, prefix: str = "!",
        allow_invites_from: tuple[str, ...] | None = None, cooldown: Cooldown = Cooldown(),
        options: dict[str, Any] | None = None, state_dir: str | Path | None = None,
    ) -> None:
        self.client = client
        self.name = name or type(self).__name__.lower()
        self.prefix = prefix
        self.allow_invites_from = allow_invites_from
        self.cooldowns = Cooldowns(cooldown)
        self.options: Any = parse(self.Options, options or {}, f"{self.name}.options") if self.Options else None
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers_added = False
        # Rooms joined while running: what was said there before we came is not for us.
        self._joined_here: set[str] = set()

    # Life cycle: override start() and stop() for work of your own (call super()).

    async def start(self) -> None:
        """Runs once the bot knows its rooms, before it answers anything."""

    async def stop(self) -> None:
        """Runs after the last batch is handled; waits for ``spawn``ed tasks."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run work in the background (a slow request) without holding up other messages."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    def state_path(self, suffix: str) -> Path:
        """A file for this bot's own state, beside its sync position."""
        if self.state_dir is None:
            raise RuntimeError(f"bot {self.name} has no state_dir")
        return self.state_dir / f"{self.name}.{suffix}"

    async def run(self, store: SyncStore | None = None) -> None:
        """Sync and answer until ``client.stop()``, keeping the position in ``store``
        (default: ``<state_dir>/<name>.sync.json``, or memory without a state dir)."""
        if store is None:
            store = FileStore(self.state_path("sync.json")) if self.state_dir else MemoryStore()
        if not self._handlers_added:  # a bot run again on the same client
            self.client.add_handler(InviteEvent, self._on_invite)
            self.client.add_handler(MessageEvent, self._on_message)
            for event_class, attr in self.event_handlers:
                self.client.add_handler(event_class, getattr(self, attr))
            self._handlers_added = True
        if await store.load() is None:
            # A first start: learn the rooms (not their history) and answer pending invites.
            response = await self.client.sync_once(filter=_FIRST_FILTER, dispatch=False)
            await self.client.dispatch(response, invites_only=True)
            await store.save(response.next_batch)
        await self.start()
        try:
            await self.client.sync_forever(store=store, filter=_RESUME_FILTER)
        finally:
            await self.stop()

    # What every bot does.

    def may_invite(self, user_id: str) -> bool:
        patterns = self.allow_invites_from
        if patterns is None:
            patterns = ("*:" + self.client.user_id.split(":", 1)[1],)
        return any(fnmatch.fnmatchcase(user_id, p) for p in patterns)

    async def _on_invite(self, room: Room | None, invite: InviteEvent) -> None:
        try:
            if not self.may_invite(invite.sender):
                log.info("%s: refusing the invite to %s from %s", self.name, invite.room_id, invite.sender)
                await self.client.leave(invite.room_id, reason="This bot does not accept invites from you.")
                return
            await self.client.join(invite.room_id)
            self._joined_here.add(invite.room_id)
            if invite.is_direct:
                await self.client.mark_direct(invite.room_id, invite.sender)
            log.info("%s: joined %s (invited by %s)", self.name, invite.room_id, invite.sender)
        except ClientError as e:
            log.warning("%s: could not answer the invite to %s: %s", self.name, invite.room_id, e)

    def _before_our_join(self, room: Room, event: Event) -> bool:
        # The room's state is as of the end of the batch, so it holds our join even when
        # the event came earlier in the same timeline.
        member = room.members.get(self.client.user_id) if room.room_id in self._joined_here else None
        return member is not None and event.origin_server_ts < member.origin_server_ts

    def parse_command(self, event: MessageEvent) -> tuple[str, str] | None:
        """(name, arguments) if ``event`` is a command for this bot."""
        text = event.text.strip()
        if not text.startswith(self.prefix):
            return None
        name, _, args = text[len(self.prefix):].partition(" ")
        name = name.strip().lower()
        return (name, args.strip()) if name in self.commands or name == "help" else None

    async def _on_message(self, room: Room | None, event: MessageEvent) -> None:
        if room is None or event.sender == self.client.user_id or event.msgtype != "m.text" \
                or event.replaces is not None or self._before_our_join(room, event):
            return
        parsed = self.parse_command(event)
        if parsed is None:
            return
        name, args = parsed
        spec = self.commands.get(name)
        if not self.cooldowns.allow(room.room_id, event.sender, spec.cooldown if spec else None):
            log.info("%s: %s is cooling down; ignoring %s", self.name, event.sender, event.event_id)
            return
        ctx = Context(self, room, event, name, args)
        if spec is None:
            await self.help(ctx, args)
            return
        await self.invoke(spec, ctx)

    async def invoke(self, spec: Command, ctx: Context) -> None:
        try:
            args, kwargs = spec.parse(ctx.args)
        except UsageError as e:
            await ctx.reply(f"{e}\nUsage: {spec.usage(self.prefix)}")
            return
        try:
            await spec.function(self, ctx, *args, **kwargs)
        except Exception:
            log.exception("%s: %s%s failed on %s", self.name, self.prefix, spec.name, ctx.event.event_id)
            await ctx.reply(f"Sorry, {self.prefix}{spec.name} failed.")

    async def help(self, ctx: Context, name: str) -> None:
        """The commands, or one command's usage and description."""
        spec = self.commands.get(name.strip().lstrip(self.prefix).lower()) if name.strip() else None
        if spec is not None:
            await ctx.reply(f"{spec.usage(self.prefix)}\n\n{spec.help}".strip())
            return
        lines = [f"{self.prefix}help [COMMAND]: this help"]
        for command_name, spec in sorted(self.commands.items()):
            if command_name == spec.name:
                lines.append(f"{spec.usage(self.prefix)}: {spec.summary}".rstrip(": "))
        await ctx.reply("\n".join(lines))


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())

