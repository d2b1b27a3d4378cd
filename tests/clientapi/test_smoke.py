from clientapi import MessageEvent


async def test_smoke(matrix_server):
    alice = await matrix_server.create_user("alice", displayname="Alice")
    bob = await matrix_server.create_user("bob", displayname="Bob Builder")
    found = await alice.client.search_users("bui")
    assert [u.user_id for u in found] == [bob.user_id]
    room_id = await alice.client.start_dm(bob.user_id)
    assert await alice.client.start_dm(bob.user_id) == room_id
    await bob.client.sync_once()
    assert room_id in bob.client.store.invites
    assert bob.client.store.invites[room_id].is_direct
    await bob.client.join(room_id)
    await alice.client.send_text(room_id, "hi **bob**", markdown=True)
    got = []

    @bob.client.on(MessageEvent)
    async def on_message(room, event):
        got.append((room.room_id, event.body, event.formatted_body))

    await bob.client.sync_once()
    assert got == [(room_id, "hi **bob**", "hi <strong>bob</strong>")]
    room = bob.client.store.rooms[room_id]
    assert room.joined_user_ids == sorted([alice.user_id, bob.user_id])
    assert room.power_level(alice.user_id) > 100
