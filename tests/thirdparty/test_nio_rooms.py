"""matrix-nio drives a whole direct chat: create, invite, join, send, edit, redact and
paginate history, reading the server through a client we did not write."""

from __future__ import annotations

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    MessageDirection,
    RegisterResponse,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPreset,
    RoomRedactResponse,
    RoomSendResponse,
)

from tests.helpers import TestServer


def _client(server: TestServer, user: str) -> AsyncClient:
    return AsyncClient(server.url, user, config=AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False))


async def test_nio_direct_chat(server: TestServer) -> None:
    alice, bob = _client(server, "alice"), _client(server, "bob")
    try:
        assert isinstance(await alice.register("alice", "correct horse battery"), RegisterResponse)
        assert isinstance(await bob.register("bob", "correct horse battery"), RegisterResponse)

        created = await alice.room_create(is_direct=True, preset=RoomPreset.trusted_private_chat,
                                          invite=["@bob:test.local"], name="DM")
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id
        assert isinstance(await bob.join(room_id), JoinResponse)

        hello = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello bob"})
        assert isinstance(hello, RoomSendResponse), hello
        reply = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi alice"})
        assert isinstance(reply, RoomSendResponse)
        edit = await alice.room_send(room_id, "m.room.message", {
            "msgtype": "m.text", "body": "* hello Bob!",
            "m.new_content": {"msgtype": "m.text", "body": "hello Bob!"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": hello.event_id},
        })
        assert isinstance(edit, RoomSendResponse)
        oops = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "wrong chat"})
        redacted = await bob.room_redact(room_id, oops.event_id, reason="wrong chat")
        assert isinstance(redacted, RoomRedactResponse), redacted

        got = await bob.room_get_event(room_id, hello.event_id)
        assert isinstance(got, RoomGetEventResponse) and isinstance(got.event, RoomMessageText)
        assert got.event.body == "hello bob" and got.event.sender == "@alice:test.local"

        texts: list[str] = []
        token = None
        while True:
            page = await bob.room_messages(room_id, start=token, direction=MessageDirection.back, limit=3)
            assert isinstance(page, RoomMessagesResponse), page
            texts += [e.body for e in page.chunk if isinstance(e, RoomMessageText)]
            if page.end is None or not page.chunk:
                break
            token = page.end
        assert texts == ["* hello Bob!", "hi alice", "hello bob"], "the redacted message is gone from history"
    finally:
        await alice.close()
        await bob.close()
