"""The runner's YAML config, and each bot's ``options``, parsed strictly into frozen
dataclasses: an unknown key or a value of the wrong type is refused with a message
naming its path (``bots[1].options.kick_after: expected int``), never ignored.

    homeserver: https://matrix.example.org
    state_dir: ./bot-state           # sync positions, sessions, bot state (default: beside this file)
    bots:
      - name: echo                   # names the state files
        class: echo                  # echo, welcome, moderation, or package.module:ClassName
        user: echo                   # localpart or user ID
        password_file: echo.password # or password: ...; not needed once a session is saved
        prefix: "!"
        allow_invites_from: ["*:example.org"]
        cooldown: {user_seconds: 2, room_seconds: 0}
        options: {}                  # the bot's own, see its Options class
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(Exception):
    """A config the runner cannot use; the message names the key."""


@dataclass(frozen=True, slots=True)
class Cooldown:
    # A user waits this long between two commands (any room); a room, between two commands.
    user_seconds: float = 0.0
    room_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class BotConfig:
    name: str
    # A ready bot's name or "package.module:ClassName".
    class_: str
    user: str
    password: str | None = None
    password_file: str | None = None
    # Where the session (access and refresh tokens) is kept; default <state_dir>/<name>.session.json.
    token_file: str | None = None
    prefix: str = "!"
    # User IDs, "*:server" for a whole server, or "*"; default: the bot's own server.
    allow_invites_from: tuple[str, ...] | None = None
    cooldown: Cooldown = Cooldown()
    options: dict[str, Any] = field(default_factory=dict)
    device_name: str | None = None


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    homeserver: str
    bots: tuple[BotConfig, ...]
    state_dir: str = "bot-state"


def load_config(path: str | Path) -> RunnerConfig:
    """Read and check the runner config; relative paths in it are relative to its directory."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from None
    if isinstance(raw, dict):
        raw = {**raw, "state_dir": str(path.parent / raw.get("state_dir", "bot-state"))}
    config = parse(RunnerConfig, raw, "config")
    names = [b.name for b in config.bots]
    if len(set(names)) != len(names):
        raise ConfigError("config.bots: two bots have the same name")
    return config


def parse(cls: type[T], raw: Any, where: str) -> T:
    """``raw`` (from YAML) as a ``cls`` dataclass, every field checked against its hint."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name.rstrip("_"): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    values = {}
    for key, f in fields.items():
        if key in raw:
            values[f.name] = _value(hints[f.name], raw[key], f"{where}.{key}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing key {key!r}")
    return cls(**values)


def _value(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, where)  # type: ignore[arg-type]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (isinstance(value, bool) and hint is not bool):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value
