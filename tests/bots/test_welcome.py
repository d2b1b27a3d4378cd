"""The welcome bot: each new local user gets one DM, across restarts of the bot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clientapi import InviteEvent, MessageEvent

from bots.testing import MatrixTestServer, TestUser, running_bot
from bots.welcome import WelcomeBot


async def welcome_dm(user: TestUser, bot: TestUser, timeout: float = 10.0) -> MessageEvent:
    """The user accepts the bot's DM invite and reads the welcome in it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await user.client.sync_once(timeout_ms=500, dispatch=False)
        invites = [i for i in user.client.store.invites.values() if i.sender == bot.user_id]
        if invites:
            break
        assert asyncio.get_running_loop().time() < deadline, f"{user.user_id} was never invited"
    invite: InviteEvent = invites[0]
    assert invite.is_direct
    await user.client.join(invite.room_id)
    event = await user.wait_for(lambda e: isinstance(e, MessageEvent) and e.sender == bot.user_id)
    assert isinstance(event, MessageEvent)
    return event


@pytest.mark.xfail(reason="needs the admin API of issue 13", strict=True)
async def test_each_new_user_is_welcomed_once(matrix_server: MatrixTestServer, tmp_path: Path) -> None:
    existing = await matrix_server.create_user("existing")
    bot_user = await matrix_server.create_user("welcome", admin=True)
    # The bot's account can list the users (the admin API, in Synapse's shape).
    page = await bot_user.client.admin_list_users(limit=10)
    assert {u.name for u in page.users} >= {existing.user_id, bot_user.user_id}
    options = {"poll_seconds": 0.2}
    async with running_bot(WelcomeBot(bot_user.client, name="welcome", state_dir=tmp_path, options=options)):
        newbie = await matrix_server.create_user("newbie", displayname="New Person")
        message = await welcome_dm(newbie, bot_user)
        assert message.msgtype == "m.notice"
        assert message.body.startswith(f"Welcome to {matrix_server.server_name}, New Person!")
        assert "type part of their username" in message.body and message.formatted_body
        assert newbie.user_id in await bot_user.client.direct_rooms()
    # Restarted: nobody is welcomed twice; the next sign-up is.
    again = matrix_server.client(session=bot_user.client.session)
    async with running_bot(WelcomeBot(again, name="welcome", state_dir=tmp_path, options=options)):
        later = await matrix_server.create_user("later")
        await welcome_dm(later, bot_user)
        await asyncio.sleep(0.6)  # three more polls
    await newbie.sync()
    assert len([e for e in newbie.seen if isinstance(e, MessageEvent) and e.sender == bot_user.user_id]) == 1
    # The user who was there before the bot's first start was never welcomed.
    await existing.client.sync_once()
    assert not existing.client.store.invites
