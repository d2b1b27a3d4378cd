"""``@command``: a bot method answering ``!name args``, its arguments parsed from its
type hints, its help from its docstring.

    @command("roll")
    async def roll(self, ctx, count: int, sides: int = 6):
        '''Roll COUNT dice with SIDES sides.'''

    @command("echo")
    async def echo(self, ctx, *, text: str):   # keyword-only: the rest of the line, as typed

Positional parameters take one word each (quotes group words: ``"two words"``); one
with a default is optional; ``*args`` takes the remaining words; a keyword-only
parameter takes the rest of the line verbatim. Hints may be ``str``, ``int``, ``float``,
``bool`` (yes/no, true/false, on/off, 1/0), ``Literal["a", "b"]`` (one of those),
``X | None``, or any type built from one string (``Decimal``...).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|(\S+)')
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


class UsageError(Exception):
    """The arguments do not fit the command: the message says how."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    hint: Any
    required: bool
    default: Any

    def convert(self, token: str) -> Any:
        try:
            return _convert(self.hint, token)
        except (ValueError, TypeError) as e:
            raise UsageError(f"{self.name}: {e}") from None

    def describe(self) -> str:
        label = self.name.upper()
        return f"<{label}>" if self.required else f"[{label}]"


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    function: Callable[..., Awaitable[Any]]
    aliases: tuple[str, ...]
    params: tuple[Param, ...]
    variadic: Param | None
    rest: Param | None
    cooldown: float | None
    help: str

    @property
    def summary(self) -> str:
        return self.help.strip().split("\n", 1)[0] if self.help.strip() else ""

    def usage(self, prefix: str) -> str:
        parts = [prefix + self.name, *(p.describe() for p in self.params)]
        if self.variadic is not None:
            parts.append(f"[{self.variadic.name.upper()}...]")
        if self.rest is not None:
            parts.append(self.rest.describe())
        return " ".join(parts)

    def parse(self, text: str) -> tuple[list[Any], dict[str, Any]]:
        """The call arguments for ``text`` (what follows the command name)."""
        matches = list(_TOKEN.finditer(text))
        words = [next(g for g in m.groups() if g is not None) for m in matches]
        args: list[Any] = []
        for i, param in enumerate(self.params):
            if i < len(words):
                args.append(param.convert(words[i]))
            elif param.required:
                raise UsageError(f"missing {param.name.upper()}")
            else:
                args.append(param.default)
        n = len(self.params)
        leftover = text[matches[n].start():].strip() if len(matches) > n else ""
        kwargs: dict[str, Any] = {}
        if self.variadic is not None:
            args.extend(self.variadic.convert(word) for word in words[n:])
        elif self.rest is not None:
            if not leftover and self.rest.required:
                raise UsageError(f"missing {self.rest.name.upper()}")
            kwargs[self.rest.name] = self.rest.convert(leftover) if leftover else self.rest.default
        elif leftover:
            raise UsageError(f"too many arguments: {leftover!r}")
        return args, kwargs


def _convert(hint: Any, token: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, token)
            except (ValueError, TypeError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        choices = [str(c) for c in typing.get_args(hint)]
        if token not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return typing.get_args(hint)[choices.index(token)]
    if hint is str or hint is inspect.Parameter.empty or hint is Any:
        return token
    if hint is bool:
        if token.lower() in _TRUE:
            return True
        if token.lower() in _FALSE:
            return False
        raise ValueError(f"expected yes or no, got {token!r}")
    if hint is int:
        try:
            return int(token)
        except ValueError:
            raise ValueError(f"expected a whole number, got {token!r}") from None
    if hint is float:
        try:
            return float(token)
        except ValueError:
            raise ValueError(f"expected a number, got {token!r}") from None
    try:
        return hint(token)
    except Exception:  # any converter's refusal (Decimal raises its own kind) is a usage error
        raise ValueError(f"expected {getattr(hint, '__name__', 'a value')}, got {token!r}") from None


def command(name: str | None = None, *, aliases: tuple[str, ...] = (),
            cooldown: float | None = None) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """Mark a bot method as the command ``name`` (default: the method's name).

    ``cooldown``: seconds a user must wait between two uses of it (overrides the bot's
    per-user cooldown for this command).
    """
    def mark(function: Callable[..., Awaitable[Any]]) -> Any:
        function.__bot_command__ = (name or function.__name__, tuple(aliases), cooldown)  # type: ignore[attr-defined]
        return function
    return mark


def build_command(function: Callable[..., Awaitable[Any]]) -> Command:
    """The ``Command`` for a method marked with ``@command``: its (self, ctx, ...) signature
    read once, when the bot class is defined, so a bad signature fails at import."""
    name, aliases, cooldown = function.__bot_command__  # type: ignore[attr-defined]
    hints = typing.get_type_hints(function)
    signature = inspect.signature(function)
    params: list[Param] = []
    variadic = rest = None
    for param in list(signature.parameters.values())[2:]:  # after self and ctx
        spec = Param(param.name, hints.get(param.name, str), param.default is inspect.Parameter.empty,
                     None if param.default is inspect.Parameter.empty else param.default)
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            variadic = Param(param.name, hints.get(param.name, str), False, None)
        elif param.kind is inspect.Parameter.KEYWORD_ONLY:
            if rest is not None:
                raise TypeError(f"command {name}: only one keyword-only parameter can take the rest of the line")
            rest = spec
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            raise TypeError(f"command {name}: **kwargs cannot be parsed from a message")
        else:
            params.append(spec)
    if variadic is not None and rest is not None:
        raise TypeError(f"command {name}: use *args or a keyword-only parameter, not both")
    return Command(name, function, aliases, tuple(params), variadic, rest, cooldown,
                   inspect.cleandoc(function.__doc__ or ""))
