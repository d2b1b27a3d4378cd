"""The SDK against a real homeserver (ours, over real HTTP and PostgreSQL)."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from clientapi import (Client, Forbidden, InviteEvent, MatrixRequestError, MemberEvent, MessageEvent, NotFound,
                       NotLoggedIn, ReactionEvent, RedactionEvent, Session, UnknownToken,
                       UserInteractiveAuthRequired, UserInUse, WeakPassword)
from clientapi.events import EphemeralEvent
from clientapi.rooms import CREATOR_LEVEL

from bots.testing import MatrixTestServer, TestUser


async def pair(server: MatrixTestServer) -> tuple[TestUser, TestUser, str]:
    """Alice and Bob in a DM Alice started and Bob joined."""
    alice = await server.create_user("alice", displayname="Alice")
    bob = await server.create_user("bob", displayname="Bob Builder")
    room_id = await alice.client.start_dm(bob.user_id)
    await bob.client.join(room_id)
    return alice, bob, room_id


async def test_register_login_whoami_logout(matrix_server: MatrixTestServer) -> None:
    client = matrix_server.client()
    session = await client.register("carol", "a long password")
    assert session.user_id == f"@carol:{matrix_server.server_name}"
    assert (await client.whoami()).user_id == session.user_id
    with pytest.raises(UserInUse):
        await matrix_server.client().register("carol", "a long password")
    with pytest.raises(WeakPassword):
        await matrix_server.client().register("dave", "short")
    second = matrix_server.client()
    other = await second.login("carol", "a long password", device_name="laptop")
    assert other.device_id != session.device_id
    await second.logout()
    assert second.session is None
    with pytest.raises(NotLoggedIn):
        await second.whoami()
    # The first device is still logged in; logging out everywhere ends it too.
    await client.logout(all_devices=True)
    stale = Client(matrix_server.url, session=session)
    with pytest.raises(UnknownToken):
        await stale.whoami()
    await stale.close()
    assert "v1.11" in await client.versions()


async def test_profile_and_finding_people(matrix_server: MatrixTestServer) -> None:
    alice = await matrix_server.create_user("alice")
    bob = await matrix_server.create_user("bob", displayname="Bob Builder")
    await alice.client.set_displayname("Alice Liddell")
    assert (await bob.client.get_profile(alice.user_id)).displayname == "Alice Liddell"
    results = await alice.client.search_users("build")
    assert [(r.user_id, r.display_name) for r in results] == [(bob.user_id, "Bob Builder")]
    assert await alice.client.search_users("nobody-like-this") == []


async def test_start_dm_reuses_the_one_in_m_direct(matrix_server: MatrixTestServer) -> None:
    alice = await matrix_server.create_user("alice")
    bob = await matrix_server.create_user("bob")
    room_id = await alice.client.start_dm(bob.user_id)
    assert (await alice.client.direct_rooms()) == {bob.user_id: [room_id]}
    # Bob has not joined yet: he is invited, and the invite says it is a DM.
    assert await alice.client.start_dm(bob.user_id) == room_id
    await bob.client.sync_once()
    assert bob.client.store.invites[room_id].is_direct
    await bob.client.join(room_id)
    assert await alice.client.start_dm(bob.user_id) == room_id
    # Once Bob has left, the next start_dm makes a new DM and records it too.
    await bob.client.leave(room_id)
    new_room = await alice.client.start_dm(bob.user_id)
    assert new_room != room_id
    assert (await alice.client.direct_rooms())[bob.user_id] == [room_id, new_room]


async def test_sending_every_kind_of_message(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await pair(matrix_server)
    text_id = await alice.client.send_text(room_id, "plain")
    md_id = await alice.client.send_text(room_id, "**bold** <img src=x onerror=alert(1)>", markdown=True)
    notice_id = await alice.client.send_notice(room_id, "a notice")
    emote_id = await alice.client.send_emote(room_id, "waves")
    original = await bob.wait_for(lambda e: e.event_id == text_id)
    assert isinstance(original, MessageEvent)
    reply_id = await bob.client.send_text(room_id, "a reply", reply_to=original)
    reaction_id = await bob.client.react(room_id, text_id, "👍")
    edit_id = await alice.client.edit(room_id, text_id, "plain, edited")
    redaction_id = await alice.client.redact(room_id, notice_id, reason="oops")
    await alice.wait_for(lambda e: e.event_id == redaction_id)
    by_id = {e.event_id: e for e in alice.seen}
    md = by_id[md_id]
    assert isinstance(md, MessageEvent) and md.formatted_body is not None
    assert md.formatted_body == "<strong>bold</strong> &lt;img src=x onerror=alert(1)&gt;"  # text, not a tag
    assert by_id[emote_id].content["msgtype"] == "m.emote"
    reply = by_id[reply_id]
    assert isinstance(reply, MessageEvent) and reply.in_reply_to == text_id and reply.mentions == [alice.user_id]
    reaction = by_id[reaction_id]
    assert isinstance(reaction, ReactionEvent) and (reaction.reacts_to, reaction.key) == (text_id, "👍")
    edit = by_id[edit_id]
    assert isinstance(edit, MessageEvent) and edit.replaces == text_id
    assert edit.new_content is not None and edit.new_content["body"] == "plain, edited"
    redaction = by_id[redaction_id]
    assert isinstance(redaction, RedactionEvent) and redaction.redacts == notice_id
    assert (await alice.client.get_event(room_id, notice_id)).content == {}


async def test_history_pages_back_to_the_start(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await pair(matrix_server)
    sent = [await alice.client.send_text(room_id, f"message {i}") for i in range(25)]
    newest_first = [e.event_id async for e in bob.client.history(room_id, page_size=7)
                    if isinstance(e, MessageEvent)]
    assert newest_first == sent[::-1]
    assert len([e async for e in bob.client.history(room_id, limit=3)]) == 3
    page = await bob.client.messages(room_id, limit=5)
    assert len(page.chunk) == 5 and page.end is not None


async def test_room_state_and_members_follow_sync(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await pair(matrix_server)
    carol = await matrix_server.create_user("carol")
    await alice.client.send_state(room_id, "m.room.name", {"name": "Plans"})
    await alice.client.invite(room_id, carol.user_id)
    await bob.client.sync_once()
    room = bob.client.store.rooms[room_id]
    assert room.name == "Plans"
    assert room.joined_user_ids == sorted([alice.user_id, bob.user_id])
    assert room.user_ids("invite") == [carol.user_id]
    assert room.display_name(bob.user_id) == "Bob Builder"
    await carol.client.join(room_id)
    await alice.client.kick(room_id, carol.user_id, "not today")
    await bob.client.sync_once()
    assert room.members[carol.user_id].membership == "leave"
    await alice.client.ban(room_id, carol.user_id)
    await bob.client.sync_once()
    assert room.members[carol.user_id].membership == "ban"
    with pytest.raises(Forbidden):
        await carol.client.join(room_id)
    await alice.client.unban(room_id, carol.user_id)
    assert (await alice.client.get_state_event(room_id, "m.room.name")) == {"name": "Plans"}
    assert await alice.client.get_state_event(room_id, "m.room.topic") is None
    assert {m.user_id for m in await alice.client.members(room_id, "join")} == {alice.user_id, bob.user_id}
    assert room_id in await bob.client.joined_rooms()
    # Carol may not kick (power level 0). Bob, invited into a trusted private chat, is
    # one of its creators since room version 12 (additional_creators), like Alice.
    await alice.client.invite(room_id, carol.user_id)
    await carol.client.join(room_id)
    await bob.client.sync_once()
    assert not room.can(carol.user_id, "kick") and room.can(bob.user_id, "kick")
    assert room.creators == {alice.user_id, bob.user_id}
    assert room.power_level(alice.user_id) == room.power_level(bob.user_id) == CREATOR_LEVEL
    with pytest.raises(Forbidden):
        await carol.client.kick(room_id, bob.user_id)
    await bob.client.leave(room_id)
    await bob.client.sync_once()
    assert room_id not in bob.client.store.rooms


async def test_handlers_receive_typed_events(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await pair(matrix_server)
    got: list[tuple[str, object]] = []

    @bob.client.on(MessageEvent)
    async def on_message(room, event):  # type: ignore[no-untyped-def]
        got.append(("message", event.body))

    @bob.client.on(MemberEvent)
    async def on_member(room, event):  # type: ignore[no-untyped-def]
        got.append(("member", (event.user_id, event.membership)))

    @bob.client.on(EphemeralEvent)
    async def on_ephemeral(room, event):  # type: ignore[no-untyped-def]
        if event.type == "m.typing" and event.typing_user_ids:
            got.append(("typing", tuple(event.typing_user_ids)))

    @bob.client.on(InviteEvent)
    async def on_invite(room, event):  # type: ignore[no-untyped-def]
        got.append(("invite", event.room_id))

    @bob.client.on(MessageEvent)
    async def broken(room, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in one handler")

    await bob.client.sync_once()
    got.clear()
    await alice.client.set_typing(room_id)
    await alice.client.send_text(room_id, "hello")
    other = await alice.client.create_room(invite=[bob.user_id])
    await bob.client.sync_once()
    assert ("message", "hello") in got and ("invite", other) in got
    assert ("typing", (alice.user_id,)) in got
    # The next handler still ran after the broken one, and the loop goes on.
    await bob.client.join(other)
    await bob.client.sync_once()
    assert ("member", (bob.user_id, "join")) in got


async def test_receipts_presence_and_account_data(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await pair(matrix_server)
    event_id = await alice.client.send_text(room_id, "read me")
    await bob.client.send_receipt(room_id, event_id)
    await bob.client.set_read_markers(room_id, event_id, event_id)
    await alice.wait_for(lambda e: e.event_id == event_id)
    receipts: list[EphemeralEvent] = []

    @alice.client.on(EphemeralEvent)
    async def on_receipt(room, event):  # type: ignore[no-untyped-def]
        if event.type == "m.receipt":
            receipts.append(event)

    await alice.client.sync_once(since="")
    assert any(event_id in r.content for r in receipts)
    await bob.client.set_presence("unavailable", "at lunch")
    presence = await alice.client.get_presence(bob.user_id)
    assert (presence.presence, presence.status_msg) == ("unavailable", "at lunch")
    await alice.client.set_account_data("org.example.settings", {"theme": "dark"})
    assert await alice.client.get_account_data("org.example.settings") == {"theme": "dark"}
    assert await alice.client.get_account_data("org.example.never") is None
    await alice.client.set_account_data("m.tag", {"tags": {}}, room_id=room_id)
    assert await alice.client.get_account_data("m.tag", room_id=room_id) == {"tags": {}}
    assert await alice.client.mutual_rooms(bob.user_id) == [room_id]


async def test_media_round_trip(matrix_server: MatrixTestServer) -> None:
    alice, bob, room_id = await pair(matrix_server)
    image = io.BytesIO()
    Image.new("RGB", (200, 100), (200, 30, 30)).save(image, "PNG")
    event_id = await alice.client.send_file(room_id, image.getvalue(), filename="red.png")
    message = await bob.wait_for(lambda e: e.event_id == event_id)
    assert isinstance(message, MessageEvent) and message.msgtype == "m.image" and message.url
    assert message.content["info"] == {"mimetype": "image/png", "size": len(image.getvalue())}
    media = await bob.client.download(message.url)
    assert media.data == image.getvalue() and media.content_type == "image/png" and media.filename == "red.png"
    thumb = await bob.client.thumbnail(message.url, 32, 32)
    assert Image.open(io.BytesIO(thumb.data)).size[0] <= 100
    with pytest.raises(NotFound):
        await bob.client.download(f"mxc://{matrix_server.server_name}/nosuchmedia")
    # Authenticated media: a client with no session may not download.
    stranger = matrix_server.client()
    with pytest.raises(NotLoggedIn):
        await stranger.download(message.url)


async def test_refresh_tokens_are_rotated_for_the_caller(start_matrix_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_matrix_server({"auth": {"refreshable_access_token_lifetime_ms": 1000}})
    await server.create_user("alice")
    saved: list[Session | None] = []
    client = server.client(on_session=saved.append)
    first = await client.login("alice", "correct horse battery staple", refresh_token=True)
    assert first.refresh_token and first.expires_at_ms is not None
    await asyncio.sleep(1.2)
    # Expired: the client refreshes before the request (within the margin) and goes on.
    assert (await client.whoami()).user_id == first.user_id
    assert client.session is not None and client.session.access_token != first.access_token
    assert client.session.refresh_token != first.refresh_token
    assert saved[-1] == client.session and len(saved) >= 2
    # Many requests at once with a stale token share one refresh.
    await asyncio.sleep(1.2)
    before = len(saved)
    await asyncio.gather(*(client.whoami() for _ in range(5)))
    assert len(saved) == before + 1
    # The old refresh token is revoked once the new tokens are used.
    old = Client(server.url, session=first)
    with pytest.raises(UnknownToken):
        await old.refresh()
    await old.close()


async def test_errors_are_exceptions_not_values(matrix_server: MatrixTestServer) -> None:
    alice = await matrix_server.create_user("alice")
    other = await matrix_server.create_user("other")
    private = await other.client.create_room()
    with pytest.raises(Forbidden):
        await alice.client.send_text(private, "hi")
    with pytest.raises(NotFound):
        await alice.client.send_text("!nosuchroom:" + matrix_server.server_name, "hi")
    with pytest.raises(NotFound):
        await alice.client.join("#nowhere:" + matrix_server.server_name)
    with pytest.raises(NotLoggedIn):
        await matrix_server.client().send_text("!r:s", "hi")


async def test_registration_tokens_and_uia_we_cannot_finish(start_matrix_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_matrix_server({"registration": {"require_token": True, "tokens": ["letmein"]}})
    with pytest.raises(UserInteractiveAuthRequired) as e:
        await server.client().register("dora", "a long password")
    assert e.value.flows == [["m.login.registration_token"]]
    session = await server.client().register("dora", "a long password", registration_token="letmein")
    assert session.user_id == f"@dora:{server.server_name}"
    # Our server has only password login: m.login.token is refused (M_UNKNOWN, as the spec says).
    with pytest.raises(MatrixRequestError) as refused:
        await server.client().login_with_token("not-a-token")
    assert (refused.value.status, refused.value.errcode) == (400, "M_UNKNOWN")
