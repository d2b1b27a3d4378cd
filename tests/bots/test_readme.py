"""The README's SDK walkthrough, ten-line bot and plugin example, run verbatim."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import types
from pathlib import Path

from clientapi import InviteEvent, MemberEvent, MessageEvent

from bots.echo import EchoBot
from bots.testing import MatrixTestServer, TestUser

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(marker: str) -> str:
    """The ```python block after ``<!-- README test: marker -->``."""
    match = re.search(rf"<!-- README test: {re.escape(marker)} -->\n```python\n(.*?)```", README.read_text(),
                      re.DOTALL)
    assert match, f"no README block marked {marker!r}"
    return match.group(1)


def python_blocks_after(heading: str) -> str:
    section = README.read_text().split(heading, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


async def run_script(code: str, tmp_path: Path, user: TestUser, server: MatrixTestServer,
                     **env: str) -> asyncio.subprocess.Process:
    script = tmp_path / "script.py"
    script.write_text(code)
    environment = {**os.environ, "MATRIX_HOMESERVER": server.url, "MATRIX_USER": user.localpart,
                   "MATRIX_PASSWORD": user.password, **env}
    return await asyncio.create_subprocess_exec(sys.executable, str(script), env=environment, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_the_sdk_walkthrough(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    alice = await matrix_server.create_user("alice")
    bob = await matrix_server.create_user("bob", displayname="Bob")
    process = await run_script(readme_block("walkthrough"), tmp_path, alice, matrix_server)
    try:
        # Bob gets the DM invite, joins, reads Alice's message and answers.
        while True:
            await bob.client.sync_once(timeout_ms=1000, dispatch=False)
            invites = list(bob.client.store.invites.values())
            if invites:
                break
            assert process.returncode is None
        invite: InviteEvent = invites[0]
        assert invite.sender == alice.user_id and invite.is_direct
        await bob.client.join(invite.room_id)
        hello = await bob.wait_for(lambda e: isinstance(e, MessageEvent) and e.sender == alice.user_id)
        assert isinstance(hello, MessageEvent) and hello.formatted_body == "Hello <strong>Bob</strong>!"
        await bob.client.send_text(invite.room_id, "Hi Alice")
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode() == "Bob: Hi Alice\n"


async def test_the_ten_line_bot(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    code = readme_block("echo bot")
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    bot = await matrix_server.create_user("echo")
    alice = await matrix_server.create_user("alice")
    process = await run_script(code, tmp_path, bot, matrix_server, MATRIX_BOT_STATE=str(tmp_path / "state"))
    try:
        while not (tmp_path / "state" / "echobot.sync.json").exists():  # it has synced once
            assert process.returncode is None
            await asyncio.sleep(0.05)
        room_id = await alice.client.create_room(invite=[bot.user_id])
        await alice.wait_for(lambda e: isinstance(e, MemberEvent) and e.user_id == bot.user_id
                             and e.membership == "join", timeout=30)
        await alice.client.send_text(room_id, "!echo hi there")
        answer = await alice.wait_for(lambda e: isinstance(e, MessageEvent) and e.sender == bot.user_id)
        assert answer.body == "hi there"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()


async def test_the_plugin_example(matrix_server: MatrixTestServer) -> None:
    namespace: dict[str, object] = {}
    sys.modules["mybot"] = types.SimpleNamespace(EchoBot=EchoBot)  # type: ignore[assignment]
    try:
        exec(python_blocks_after("### Testing bots against a real server"), namespace)
        await namespace["test_echo"](matrix_server)  # type: ignore[operator]
    finally:
        del sys.modules["mybot"]
