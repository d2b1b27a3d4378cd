"""The moderation bot: redact, warn, report, kick, then ban, with an audit log; and the
reports still all arrive when the server rate-limits them hard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from clientapi import Client, MemberEvent, MessageEvent

from bots.moderation import ModerationBot
from bots.testing import MatrixTestServer, TestUser, running_bot

OPTIONS = {"words": ["spam", "scam"], "block_links": True, "allowed_domains": ["example.org"],
           "kick_after": 2, "ban_after": 3}


@pytest.fixture
def matrix_server_config() -> dict[str, Any]:
    # One report every two seconds, a burst of one: the bot's reports meet 429s.
    return {"rate_limits": {"enabled": True, "reports": {"per_second": 0.5, "burst": 1},
                            "registration": {"per_second": 100.0, "burst": 100}}}


async def moderated_room(server: MatrixTestServer, bot: TestUser) -> tuple[TestUser, TestUser, str]:
    """Alice's public room, where the bot is a moderator (100) and Mallory a member."""
    alice = await server.create_user("alice")
    mallory = await server.create_user("mallory", displayname="Mallory")
    room_id = await alice.client.create_room(preset="public_chat", invite=[bot.user_id],
                                             power_level_content_override={"users": {bot.user_id: 100}})
    await bot.client.join(room_id)
    await mallory.client.join(room_id)
    return alice, mallory, room_id


def membership_of(user: TestUser, membership: str) -> Any:
    return lambda e: isinstance(e, MemberEvent) and e.user_id == user.user_id and e.membership == membership


async def test_offences_are_redacted_warned_reported_then_kicked_and_banned(
        matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("mod")
    alice, mallory, room_id = await moderated_room(matrix_server, bot_user)
    bot = ModerationBot(bot_user.client, name="mod", state_dir=tmp_path, options=OPTIONS)
    async with running_bot(bot):
        fine = await mallory.client.send_text(room_id, "the docs are at https://docs.example.org/x")
        spam = await mallory.client.send_text(room_id, "Buy SPAM, now!")
        await alice.client.send_text(room_id, "moderators may say spam")  # exempt
        warning = await alice.wait_for(lambda e: isinstance(e, MessageEvent) and e.sender == bot_user.user_id)
        assert warning.body.startswith("Mallory: your message was removed (the word 'spam')")
        assert isinstance(warning, MessageEvent) and warning.mentions == [mallory.user_id]
        link = await mallory.client.send_text(room_id, "cheap stuff at www.bad.test/deal")
        await alice.wait_for(membership_of(mallory, "leave"))  # second offence: kicked
        await alice.client.invite(room_id, mallory.user_id)
        await mallory.client.join(room_id)
        # An edit that turns a clean message into an offence counts too: the third, a ban.
        edit = await mallory.client.edit(room_id, fine, "it is a scam")
        await alice.wait_for(membership_of(mallory, "ban"))
        await asyncio.sleep(0.3)
    redacted = {e.event_id for e in alice.seen if e.type == "m.room.redaction"
                and (e.content.get("redacts") or e.raw.get("redacts"))}
    for event_id in (spam, link, edit):
        assert (await alice.client.get_event(room_id, event_id)).redacted, event_id
    assert not (await alice.client.get_event(room_id, fine)).redacted
    assert len(redacted) == 3
    entries = [json.loads(line) for line in (tmp_path / "mod.audit.jsonl").read_text().splitlines()]
    assert [(e["event_id"], e["offences"]) for e in entries] == [(spam, 1), (link, 2), (edit, 3)]
    assert entries[0]["actions"] == {"redact": "done", "warn": "done", "report": "queued"}
    assert entries[1]["actions"]["kick"] == "done" and "warn" not in entries[1]["actions"]
    assert entries[2]["actions"]["ban"] == "done"
    # Every report reached the server's admins, though reports were rate-limited hard.
    reports = await matrix_server.hs.db.pool.fetch(
        "SELECT event_id, reason FROM reports WHERE reporter = $1", bot_user.user_id)
    reasons = {r["event_id"]: r["reason"] for r in reports}
    assert len(reports) == 3 and set(reasons) == {spam, link, edit}  # each once, in any order
    assert reasons[spam] == "moderation bot: the word 'spam' (offence 1 in this room)"
    assert bot_user.client.transport.retries >= 1


async def test_offences_are_remembered_across_restarts(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("mod")
    alice, mallory, room_id = await moderated_room(matrix_server, bot_user)
    options = {**OPTIONS, "report": False, "warn": False}
    async with running_bot(ModerationBot(bot_user.client, name="mod", state_dir=tmp_path, options=options)):
        first = await mallory.client.send_text(room_id, "spam")
        await alice.wait_for(lambda e: e.type == "m.room.redaction" and e.content.get("redacts") == first)
    again = matrix_server.client(session=bot_user.client.session)
    async with running_bot(ModerationBot(again, name="mod", state_dir=tmp_path, options=options)):
        await mallory.client.send_text(room_id, "more spam")
        await alice.wait_for(membership_of(mallory, "leave"))  # the second offence, though a new process


async def test_without_power_the_audit_log_says_what_failed(matrix_server: MatrixTestServer,
                                                           tmp_path: Path) -> None:
    bot_user = await matrix_server.create_user("mod")
    alice = await matrix_server.create_user("alice")
    mallory = await matrix_server.create_user("mallory")
    room_id = await alice.client.create_room(preset="public_chat")
    await bot_user.client.join(room_id)
    await mallory.client.join(room_id)
    options = {**OPTIONS, "report": False, "kick_after": 1}
    async with running_bot(ModerationBot(bot_user.client, name="mod", state_dir=tmp_path, options=options)):
        await mallory.client.send_text(room_id, "spam")
        audit = tmp_path / "mod.audit.jsonl"
        for _ in range(100):
            if audit.exists():
                break
            await asyncio.sleep(0.05)
    (entry,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert entry["actions"]["redact"].startswith("failed:") and "403" in entry["actions"]["redact"]
    assert entry["actions"]["kick"].startswith("failed:")


def test_what_counts_as_an_offence() -> None:
    bot = ModerationBot(Client("http://127.0.0.1:1"), options=OPTIONS)
    assert bot.check("this is SPAM") is not None
    assert bot.check("spammer and scampi are other words") is None
    assert bot.check("go to http://evil.test now") is not None
    assert bot.check("docs at https://example.org/a and https://www.example.org/b") is None
    assert bot.check("fine text", '<a href="https://evil.test">fine text</a>') is not None
    assert bot.check("example.org.evil.test is not example.org: http://example.org.evil.test") is not None
