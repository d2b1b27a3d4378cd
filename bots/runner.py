"""Running bots: ``python -m bots run CONFIG.yaml``, or ``run(MyBot)`` from a script.

Each bot has its own account and session. The session (access and refresh tokens, and
the device ID) is kept in a token file, so a restarted bot is the same device (its
transaction IDs stay valid) and needs its password only once. SIGTERM and SIGINT stop
every bot gracefully: the batch in hand is answered, its position saved, background
work awaited, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from clientapi import Client, Session, UnknownToken
from clientapi.store import write_atomically

from bots.bot import Bot
from bots.config import BotConfig, ConfigError, Cooldown, RunnerConfig

log = logging.getLogger("bots.runner")

READY_BOTS = {
    "echo": "bots.echo:EchoBot",
    "welcome": "bots.welcome:WelcomeBot",
    "moderation": "bots.moderation:ModerationBot",
}


def load_class(spec: str) -> type[Bot]:
    """A ready bot by name, or ``package.module:ClassName``."""
    module_name, _, class_name = READY_BOTS.get(spec, spec).partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"bot class {spec!r}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Bot)):
        raise ConfigError(f"bot class {spec!r} is not a Bot")
    return cls


class TokenFile:
    """A session on disk, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Session | None:
        if not self.path.exists():
            return None
        return Session.from_json(json.loads(self.path.read_text(encoding="utf-8")), str(self.path))

    def save(self, session: Session | None) -> None:
        if session is None:
            self.path.unlink(missing_ok=True)
            return
        write_atomically(self.path, json.dumps(session.to_json()))
        os.chmod(self.path, 0o600)


async def connect(homeserver: str, bot: BotConfig, state_dir: Path) -> Client:
    """A client logged in as the bot: the saved session if it still works, else a login
    with the password (as the same device, when one was saved)."""
    tokens = TokenFile(Path(bot.token_file) if bot.token_file else state_dir / f"{bot.name}.session.json")
    saved = tokens.load()
    client = Client(homeserver, session=saved, on_session=tokens.save)
    if saved is not None:
        try:
            await client.whoami()
            return client
        except UnknownToken:
            log.warning("%s: the saved session is no longer valid; logging in again", bot.name)
    password = _password(bot)
    if password is None:
        await client.close()
        raise ConfigError(f"bots.{bot.name}: no valid saved session and no password or password_file")
    await client.login(bot.user, password, device_id=saved.device_id if saved else None,
                       device_name=bot.device_name or f"bot {bot.name}", refresh_token=True)
    return client


def _password(bot: BotConfig) -> str | None:
    if bot.password is not None:
        return bot.password
    if bot.password_file is not None:
        return Path(bot.password_file).read_text(encoding="utf-8").strip()
    return None


class Runner:
    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.bots: list[Bot] = []
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        for bot in self.bots:
            bot.client.stop()

    async def run(self) -> None:
        state_dir = Path(self.config.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self.config.bots:
                cls = load_class(spec.class_)
                client = await connect(self.config.homeserver, spec, state_dir)
                self.bots.append(cls(client, name=spec.name, prefix=spec.prefix,
                                     allow_invites_from=spec.allow_invites_from, cooldown=spec.cooldown,
                                     options=spec.options, state_dir=state_dir))
                if self._stopping.is_set():
                    return
            log.info("running %s", ", ".join(f"{b.name} as {b.client.user_id}" for b in self.bots))
            await asyncio.gather(*(bot.run() for bot in self.bots))
        finally:
            for bot in self.bots:
                await bot.client.close()


async def run_until_signalled(config: RunnerConfig) -> None:
    runner = Runner(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.stop)
    try:
        await runner.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")


def run(bot_class: type[Bot] | str, *, homeserver: str | None = None, user: str | None = None,
        password: str | None = None, state_dir: str | None = None, prefix: str = "!",
        cooldown: Cooldown = Cooldown(), options: dict[str, Any] | None = None) -> None:
    """Run one bot until SIGTERM or Ctrl-C. What is not given comes from the environment:
    ``MATRIX_HOMESERVER``, ``MATRIX_USER``, ``MATRIX_PASSWORD``, ``MATRIX_BOT_STATE``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cls = bot_class if isinstance(bot_class, type) else load_class(bot_class)
    name = cls.__name__.lower()
    bot = BotConfig(name=name, class_=f"{cls.__module__}:{cls.__qualname__}",
                    user=user or _env("MATRIX_USER"), password=password or os.environ.get("MATRIX_PASSWORD"),
                    prefix=prefix, cooldown=cooldown, options=options or {})
    config = RunnerConfig(homeserver=homeserver or _env("MATRIX_HOMESERVER"), bots=(bot,),
                          state_dir=state_dir or os.environ.get("MATRIX_BOT_STATE", "bot-state"))
    asyncio.run(run_until_signalled(config))


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"set {name} (or pass it to run())")
    return value
