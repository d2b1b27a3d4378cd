"""matrix-nio with its encryption extra (vodozemac, no libolm) runs an encrypted direct
chat: device keys uploaded, queried and claimed, Olm-shared Megolm sessions, and messages
each side decrypts (the server only ever stores m.room.encrypted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

nio = pytest.importorskip("nio")
if not nio.crypto.ENCRYPTION_ENABLED:  # pragma: no cover - the test extra installs it
    pytest.skip("matrix-nio was installed without its e2e extra", allow_module_level=True)

from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomMessageText, RoomSendResponse  # noqa: E402

from tests.helpers import TestServer  # noqa: E402

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


async def _client(server: TestServer, store: Path, user_id: str, password: str) -> AsyncClient:
    store.mkdir()
    client = AsyncClient(server.url, user_id, store_path=str(store),
                         config=AsyncClientConfig(store_sync_tokens=False, encryption_enabled=True))
    assert isinstance(await client.login(password, device_name="nio e2ee"), LoginResponse)
    return client


async def _round(client: AsyncClient, timeout_ms: int = 200) -> None:
    """One turn of nio's own sync loop (AsyncClient.sync_forever): sync, then the key
    requests it asks for."""
    await client.sync(timeout=timeout_ms)
    await client.send_to_device_messages()
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())


async def _read(client: AsyncClient, body: str) -> RoomMessageText:
    """The message, once the client's callbacks received it decrypted."""
    for _ in range(50):
        await _round(client)
        found = [e for e in client.received if e.body == body]
        if found:
            return found[0]
    pytest.fail(f"{client.user_id} never decrypted {body!r}")


async def test_nio_encrypted_direct_chat(server: TestServer, tmp_path: Path) -> None:
    alice_user, bob_user = await server.register("alice"), await server.register("bob")
    alice = await _client(server, tmp_path / "alice", alice_user.user_id, alice_user.password)
    bob = await _client(server, tmp_path / "bob", bob_user.user_id, bob_user.password)
    for client in (alice, bob):
        client.received = []
        client.add_event_callback(lambda room, event, c=client: c.received.append(event), RoomMessageText)
    try:
        for client in (alice, bob):
            await _round(client, 0)
        created = await alice_user.post("createRoom", {"invite": [bob_user.user_id], "is_direct": True,
                                                       "preset": "trusted_private_chat", "initial_state": [ENCRYPTION]})
        room_id = created.body["room_id"]
        assert (await bob_user.post(f"join/{room_id}")).status == 200
        for _ in range(3):
            await asyncio.gather(_round(alice), _round(bob))
        assert alice.rooms[room_id].encrypted and bob.rooms[room_id].encrypted

        for sender, reader, body in ((alice, bob, "hello bob, encrypted"), (bob, alice, "hi alice, encrypted too")):
            sent = await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                          ignore_unverified_devices=True)
            assert isinstance(sent, RoomSendResponse), sent
            message = await _read(reader, body)
            assert message.decrypted and message.sender == sender.user_id

        async with server.hs.db.pool.acquire() as conn:
            types = {r["type"] for r in await conn.fetch(
                "SELECT type FROM events WHERE room_id = $1 AND state_key IS NULL", room_id)}
        assert types == {"m.room.encrypted"}
    finally:
        await alice.close()
        await bob.close()
