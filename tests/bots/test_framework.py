"""The bot framework against a real server: commands, help, invites, cooldowns, restarts,
and the runner process with SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from clientapi import Event, MemberEvent, MessageEvent
from clientapi import content as build

from bots import Bot, Context, command
from bots.config import Cooldown
from bots.echo import EchoBot
from bots.testing import MatrixTestServer, TestUser, running_bot


def is_answer_from(bot: TestUser) -> Any:
    return lambda e: isinstance(e, MessageEvent) and e.sender == bot.user_id and e.msgtype == "m.notice"


async def joined(server: MatrixTestServer, bot: TestUser, *, name: str = "alice") -> tuple[TestUser, str]:
    """A user and a room the bot was invited to and has joined."""
    user = await server.create_user(name)
    room_id = await user.client.create_room(invite=[bot.user_id])
    await user.wait_for(lambda e: isinstance(e, MemberEvent) and e.user_id == bot.user_id
                        and e.membership == "join")
    return user, room_id


class Dice(Bot):
    @command("roll")
    async def roll(self, ctx: Context, count: int, sides: int = 6) -> None:
        """Roll COUNT dice with SIDES sides."""
        await ctx.reply(f"{count}d{sides}")

    @command("fail")
    async def fail(self, ctx: Context) -> None:
        """Always fails."""
        raise RuntimeError("boom")


async def test_commands_help_and_usage(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("dice")
    async with running_bot(Dice(bot_user.client, state_dir=tmp_path)):
        alice, room_id = await joined(matrix_server, bot_user)
        for text in ("!roll 2 20", "!help", "!help roll", "!roll two", "!fail"):
            await alice.client.send_text(room_id, text)
        answers = []
        for _ in range(5):
            answers.append(await alice.wait_for(lambda e: is_answer_from(bot_user)(e) and e not in answers))
    bodies = [a.body for a in answers]
    assert bodies[0] == "2d20"
    assert bodies[1] == "!help [COMMAND]: this help\n!fail: Always fails.\n!roll <COUNT> [SIDES]: Roll COUNT dice " \
                        "with SIDES sides."
    assert bodies[2] == "!roll <COUNT> [SIDES]\n\nRoll COUNT dice with SIDES sides."
    assert bodies[3] == "count: expected a whole number, got 'two'\nUsage: !roll <COUNT> [SIDES]"
    assert bodies[4] == "Sorry, !fail failed."
    # Answers are rich replies to the command, mentioning its sender.
    assert all(isinstance(a, MessageEvent) and a.in_reply_to and a.mentions == [alice.user_id] for a in answers)


async def test_what_a_bot_does_not_answer(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("echo")
    alice = await matrix_server.create_user("alice")
    room_id = await alice.client.create_room(invite=[bot_user.user_id])
    await alice.client.send_text(room_id, "!echo said before the bot joined")
    async with running_bot(EchoBot(bot_user.client, state_dir=tmp_path)):
        await alice.wait_for(lambda e: isinstance(e, MemberEvent) and e.user_id == bot_user.user_id)
        await alice.client.send_notice(room_id, "!echo a notice")  # bots never answer notices
        await alice.client.send_text(room_id, "echo without the prefix")
        first = await alice.client.send_text(room_id, "!echo one")
        await alice.client.edit(room_id, first, "!echo one, edited")  # edits are not new commands
        await alice.client.send_text(room_id, "!unknown command")
        await alice.client.send_text(room_id, "!echo two")
        await alice.wait_for(lambda e: is_answer_from(bot_user)(e) and e.body == "two")
    answers = [e.body for e in alice.seen if is_answer_from(bot_user)(e)]
    assert answers == ["one", "two"]


async def test_invites_follow_the_allow_list_and_dms_are_recorded(matrix_server: MatrixTestServer,
                                                                   tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("echo")
    admin = await matrix_server.create_user("admin")
    stranger = await matrix_server.create_user("stranger")
    bot = EchoBot(bot_user.client, state_dir=tmp_path, allow_invites_from=(admin.user_id,))
    async with running_bot(bot):
        dm = await admin.client.start_dm(bot_user.user_id)
        other = await stranger.client.create_room(invite=[bot_user.user_id])
        await admin.wait_for(lambda e: isinstance(e, MemberEvent) and e.user_id == bot_user.user_id
                             and e.membership == "join")
        await stranger.wait_for(lambda e: isinstance(e, MemberEvent) and e.user_id == bot_user.user_id
                                and e.membership == "leave")
    assert await bot_user.client.direct_rooms() == {admin.user_id: [dm]}
    assert other not in await bot_user.client.joined_rooms()
    # By default, anyone on the bot's own server may invite it.
    assert EchoBot(bot_user.client).may_invite(stranger.user_id)
    assert not EchoBot(bot_user.client).may_invite("@someone:elsewhere.org")


async def test_cooldown_per_user(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("echo")
    async with running_bot(EchoBot(bot_user.client, state_dir=tmp_path, cooldown=Cooldown(user_seconds=60))):
        alice, room_id = await joined(matrix_server, bot_user)
        bob = await matrix_server.create_user("bob")
        await alice.client.invite(room_id, bob.user_id)
        await bob.client.join(room_id)
        for text in ("!echo first", "!echo too soon"):
            await alice.client.send_text(room_id, text)
        await bob.client.send_text(room_id, "!echo bob is not cooling down")
        await alice.wait_for(lambda e: is_answer_from(bot_user)(e) and e.body.startswith("bob"))
    assert [e.body for e in alice.seen if is_answer_from(bot_user)(e)] == ["first", "bob is not cooling down"]


async def test_a_restarted_bot_never_answers_twice(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("echo")
    async with running_bot(EchoBot(bot_user.client, state_dir=tmp_path)):
        alice, room_id = await joined(matrix_server, bot_user)
        await alice.client.send_text(room_id, "!echo before")
        await alice.wait_for(lambda e: is_answer_from(bot_user)(e) and e.body == "before")
    for text in ("!echo while down 1", "!echo while down 2"):
        await alice.client.send_text(room_id, text)
    # A new process: a new client with the saved session, the same state directory.
    again = matrix_server.client(session=bot_user.client.session)
    async with running_bot(EchoBot(again, state_dir=tmp_path)):
        await alice.client.send_text(room_id, "!echo after")
        await alice.wait_for(lambda e: is_answer_from(bot_user)(e) and e.body == "after")
        await asyncio.sleep(0.5)  # room for a wrong second answer to arrive
        await alice.sync()
    answers = [e.body for e in alice.seen if is_answer_from(bot_user)(e)]
    assert answers == ["before", "while down 1", "while down 2", "after"]


async def run_process(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bots", "run", str(config),
                                                stderr=asyncio.subprocess.PIPE)


async def echo_process_round(tmp_path: Path, server: MatrixTestServer, spec: dict[str, Any], bot: TestUser,
                             alice: TestUser, room_id: str, text: str) -> bytes:
    """Run ``python -m bots run`` with the echo bot ``spec`` until it has answered
    ``!echo text``, then SIGTERM it; its stderr."""
    config = tmp_path / "bots.yaml"
    config.write_text(yaml.safe_dump({"homeserver": server.url, "state_dir": "state", "bots": [spec]}))
    process = await run_process(config)
    try:
        # A bot's first start answers nothing from before it: wait until it has synced.
        while not (tmp_path / "state" / "echo.sync.json").exists():
            assert process.returncode is None
            await asyncio.sleep(0.05)
        await alice.client.send_text(room_id, f"!echo {text}")
        await alice.wait_for(lambda e: is_answer_from(bot)(e) and e.body == text, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()
    return stderr


async def test_runner_process_sigterm_and_token_file(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("echo")
    alice, room_id = await joined_later(matrix_server, bot_user)
    spec = {"name": "echo", "class": "echo", "user": bot_user.localpart, "password": bot_user.password}
    stderr = await echo_process_round(tmp_path, matrix_server, spec, bot_user, alice, room_id, "to the process")
    assert b"stopped" in stderr
    session = json.loads((tmp_path / "state" / "echo.session.json").read_text())
    assert session["user_id"] == bot_user.user_id and session["refresh_token"]
    assert (tmp_path / "state" / "echo.session.json").stat().st_mode & 0o077 == 0
    # Started again without a password: the saved session is enough, and nothing is
    # answered twice.
    del spec["password"]
    await echo_process_round(tmp_path, matrix_server, spec, bot_user, alice, room_id, "again")
    await alice.sync()
    assert [e.body for e in alice.seen if is_answer_from(bot_user)(e)] == ["to the process", "again"]


async def joined_later(server: MatrixTestServer, bot: TestUser) -> tuple[TestUser, str]:
    """A room the bot has already joined, before any bot process runs."""
    alice = await server.create_user("alice")
    room_id = await alice.client.create_room(invite=[bot.user_id])
    await bot.client.join(room_id)
    return alice, room_id


async def test_a_bad_config_exits_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "bots.yaml"
    config.write_text("homeserver: http://127.0.0.1:1\nbots: [{name: a, class: nosuch.module:Bot, user: a}]\n")
    process = await run_process(config)
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2 and b"error: bot class 'nosuch.module:Bot'" in stderr


def test_replies_strip_old_fallbacks() -> None:
    raw = {"type": "m.room.message", "sender": "@a:s", "event_id": "$1", "origin_server_ts": 1,
           "content": build.reply(build.text("> <@b:s> old quote\n\n!echo hi"), "$0")}
    from clientapi.events import parse_event

    event: Event = parse_event(raw, "!r:s")
    assert isinstance(event, MessageEvent) and event.text == "!echo hi"
