"""Command parsing from type hints, help from docstrings, cooldowns, the runner config:
pure, no server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest

from bots import Bot, Context, UsageError, command
from bots.bot import Cooldowns
from bots.config import ConfigError, Cooldown, load_config, parse
from bots.moderation import ModerationOptions


class Sample(Bot):
    @command("roll", aliases=("dice",))
    async def roll(self, ctx: Context, count: int, sides: int = 6) -> None:
        """Roll COUNT dice with SIDES sides.

        Sums them up."""

    @command()
    async def say(self, ctx: Context, loud: bool, *, text: str) -> None:
        """Say TEXT, LOUD or not."""

    @command("pick")
    async def pick(self, ctx: Context, colour: Literal["red", "green"], *others: float) -> None:
        """Pick a colour."""

    @command("pay", cooldown=10)
    async def pay(self, ctx: Context, amount: Decimal, note: str | None = None) -> None:
        """Pay AMOUNT."""


def test_arguments_follow_the_type_hints() -> None:
    roll = Sample.commands["roll"]
    assert roll.parse("3") == ([3, 6], {})
    assert roll.parse("3 20") == ([3, 20], {})
    assert Sample.commands["dice"] is roll
    say = Sample.commands["say"]
    assert say.parse('yes  "quoted"  and   spaced ') == ([True], {"text": '"quoted"  and   spaced'})
    assert Sample.commands["pick"].parse("green 1.5 2") == (["green", 1.5, 2.0], {})
    assert Sample.commands["pay"].parse("12.50") == ([Decimal("12.50"), None], {})
    assert Sample.commands["pay"].parse('3 "for lunch"') == ([Decimal("3"), "for lunch"], {})


@pytest.mark.parametrize("name, text, problem", [
    ("roll", "", "missing COUNT"),
    ("roll", "three", "count: expected a whole number, got 'three'"),
    ("roll", "1 2 3", "too many arguments: '3'"),
    ("say", "maybe hello", "loud: expected yes or no"),
    ("say", "yes", "missing TEXT"),
    ("pick", "blue", "colour: expected one of red, green"),
    ("pick", "red x", "others: expected a number"),
    ("pay", "lots", "amount:"),
])
def test_bad_arguments_say_what_is_wrong(name: str, text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        Sample.commands[name].parse(text)


def test_usage_and_help_come_from_the_signature_and_docstring() -> None:
    assert Sample.commands["roll"].usage("!") == "!roll <COUNT> [SIDES]"
    assert Sample.commands["say"].usage("?") == "?say <LOUD> <TEXT>"
    assert Sample.commands["pick"].usage("!") == "!pick <COLOUR> [OTHERS...]"
    assert Sample.commands["roll"].summary == "Roll COUNT dice with SIDES sides."
    assert Sample.commands["roll"].help == "Roll COUNT dice with SIDES sides.\n\nSums them up."
    assert Sample.commands["pay"].cooldown == 10


def test_bad_signatures_fail_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="not both"):
        class Bad(Bot):
            @command()
            async def both(self, ctx: Context, *words: str, rest: str) -> None: ...

    with pytest.raises(TypeError, match="kwargs"):
        class Worse(Bot):
            @command()
            async def anything(self, ctx: Context, **kwargs: str) -> None: ...


def test_cooldowns_per_user_and_per_room() -> None:
    now = [0.0]
    cooldowns = Cooldowns(Cooldown(user_seconds=5, room_seconds=1), clock=lambda: now[0], limit=3)
    assert cooldowns.allow("!a", "@u")
    assert not cooldowns.allow("!b", "@u")  # the same user, elsewhere
    assert not cooldowns.allow("!a", "@v")  # the same room, someone else
    now[0] = 1.5
    assert cooldowns.allow("!a", "@v") and not cooldowns.allow("!c", "@u")
    now[0] = 5.5
    assert cooldowns.allow("!c", "@u")
    assert cooldowns.allow("!d", "@w", user_seconds=0) and cooldowns.allow("!e", "@w", user_seconds=0)
    assert len(cooldowns._until) == 3  # bounded


def test_runner_config(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text("""
homeserver: http://127.0.0.1:8008
state_dir: state
bots:
  - name: mod
    class: moderation
    user: mod
    password: pw
    cooldown: {user_seconds: 2}
    allow_invites_from: ["@admin:example.org"]
    options: {words: [spam], kick_after: 2}
""")
    config = load_config(path)
    bot = config.bots[0]
    assert config.state_dir == str(tmp_path / "state")
    assert (bot.class_, bot.cooldown, bot.allow_invites_from) == ("moderation", Cooldown(2.0, 0.0),
                                                                 ("@admin:example.org",))
    options = parse(ModerationOptions, bot.options, "options")
    assert options.words == ("spam",) and options.kick_after == 2 and options.redact


@pytest.mark.parametrize("yaml_text, problem", [
    ("homeserver: x\nbots: [{name: a, class: echo, user: a, pasword: x}]", r"config.bots\[0\]: unknown key 'pasword'"),
    ("homeserver: x\nbots: [{name: a, class: echo}]", r"config.bots\[0\]: missing key 'user'"),
    ("homeserver: 5\nbots: []", "config.homeserver: expected str, got int"),
    ("homeserver: x\nbots: [{name: a, class: echo, user: a, cooldown: {user_seconds: soon}}]",
     r"config.bots\[0\].cooldown.user_seconds: expected float, got str"),
    ("homeserver: x\nbots: [{name: a, class: echo, user: a}, {name: a, class: echo, user: b}]", "same name"),
    ("- just a list", "config: expected a mapping"),
])
def test_bad_configs_name_the_key(tmp_path: Path, yaml_text: str, problem: str) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_bad_bot_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"mod.options: unknown key 'kick_afterr'"):
        parse(ModerationOptions, {"kick_afterr": 3}, "mod.options")
    with pytest.raises(ConfigError, match=r"mod.options.words\[1\]: expected str, got int"):
        parse(ModerationOptions, {"words": ["a", 2]}, "mod.options")
