import asyncio

from clientapi import MessageEvent

from bots.echo import EchoBot


async def test_echo_bot(matrix_server, tmp_path):
    alice = await matrix_server.create_user("alice")
    echo = await matrix_server.create_user("echo")
    bot = EchoBot(echo.client, state_dir=tmp_path)
    task = asyncio.create_task(bot.run())
    room_id = await alice.client.create_room(invite=[echo.user_id])
    await alice.wait_for(lambda e: getattr(e, "membership", None) == "join" and e.sender == echo.user_id)
    await alice.client.send_text(room_id, "!echo hello there")
    answer = await alice.wait_for(lambda e: isinstance(e, MessageEvent) and e.sender == echo.user_id)
    assert answer.body == "hello there" and answer.msgtype == "m.notice"
    echo.client.stop()
    await asyncio.wait_for(task, 10)
