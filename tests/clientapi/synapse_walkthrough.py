"""Run the README's SDK walkthrough, and more of the SDK and bots, against Synapse.

Not part of the test run (it needs Synapse, which is heavy): run it by hand to check that
``clientapi`` and ``bots`` work against a homeserver other than ours.

    python3 -m venv /tmp/synapse-venv && /tmp/synapse-venv/bin/pip install matrix-synapse
    .venv/bin/python tests/clientapi/synapse_walkthrough.py --synapse-python /tmp/synapse-venv/bin/python

It generates a Synapse config in a temporary directory (SQLite, one listener on
127.0.0.1, open registration, the user directory searching all users, messages
rate-limited to 5 a second with a burst of 3), starts Synapse, and then, over real HTTP:

1. runs the README walkthrough verbatim as a script (Alice finds Bob, starts a DM, sends
   Markdown, and prints Bob's answer), with Bob answering through the SDK;
2. sends 40 messages at once into Synapse's message rate limit: every one must arrive,
   exactly once (Synapse answers 429 with ``retry_after_ms``; the SDK waits and resends
   with the same transaction ID);
3. uploads and downloads media over the authenticated endpoints, reacts, edits, redacts,
   reads history back;
4. restarts ``sync_forever`` from a ``FileStore`` and checks it resumes where it was;
5. runs the welcome bot's poll against Synapse's admin API (``/_synapse/admin/v2/users``).

It prints one line per step and exits non-zero at the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bots.testing import free_port, register_admin  # noqa: E402
from bots.welcome import WelcomeBot  # noqa: E402
from clientapi import Client, FileStore, MessageEvent, RetryPolicy  # noqa: E402

PASSWORD = "walkthrough password 1"


def write_config(python: str, data_dir: Path, port: int) -> Path:
    config_path = data_dir / "homeserver.yaml"
    subprocess.run([python, "-m", "synapse.app.homeserver", "--server-name", "localhost", "--config-path",
                    str(config_path), "--data-directory", str(data_dir), "--generate-config",
                    "--report-stats=no"], check=True, cwd=data_dir, capture_output=True)
    config = yaml.safe_load(config_path.read_text())
    config.update({
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                       "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}],
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "user_directory": {"enabled": True, "search_all_users": True},
        "rc_message": {"per_second": 5, "burst_count": 3},
        "rc_registration": {"per_second": 10, "burst_count": 20},
        "rc_login": {"address": {"per_second": 10, "burst_count": 20},
                     "account": {"per_second": 10, "burst_count": 20}},
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": True},
    })
    config_path.write_text(yaml.safe_dump(config))
    return config_path


async def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/_matrix/client/versions") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Synapse did not start; see its log in the data directory")
            await asyncio.sleep(0.5)


def step(name: str) -> None:
    print(f"ok: {name}", flush=True)


async def new_user(url: str, localpart: str, displayname: str | None = None) -> Client:
    client = Client(url, retry=RetryPolicy(max_retries=3, backoff_base=0.2))
    await client.register(localpart, PASSWORD)
    if displayname:
        await client.set_displayname(displayname)
    return client


async def walkthrough(url: str, tmp: Path) -> None:
    alice = await new_user(url, "alice")
    bob = await new_user(url, "bob", "Bob")
    # Synapse fills its user directory in the background.
    for _ in range(100):
        if await alice.search_users("bob"):
            break
        await asyncio.sleep(0.1)
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- README test: walkthrough -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert code, "the README has no walkthrough block"
    (tmp / "walkthrough.py").write_text(code.group(1))
    env = {**os.environ, "MATRIX_HOMESERVER": url, "MATRIX_USER": "alice", "MATRIX_PASSWORD": PASSWORD}
    process = await asyncio.create_subprocess_exec(sys.executable, str(tmp / "walkthrough.py"), env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    while not bob.store.invites:
        await bob.sync_once(timeout_ms=1000, dispatch=False)
    (room_id,) = bob.store.invites
    assert bob.store.invites[room_id].is_direct
    await bob.join(room_id)
    await bob.send_text(room_id, "Hi Alice")
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0 and stdout.decode() == "Bob: Hi Alice\n", stderr.decode()
    step("README walkthrough: login, search_users, start_dm, Markdown, sync_forever, stop")
    await rate_limited_storm(alice, bob, room_id)
    await media_and_relations(alice, bob, room_id)
    await resume(alice, bob, room_id, tmp)
    await alice.close()
    await bob.close()


async def rate_limited_storm(alice: Client, bob: Client, room_id: str) -> None:
    bodies = [f"storm {i}" for i in range(40)]
    started = time.monotonic()
    event_ids = await asyncio.gather(*(alice.send_text(room_id, body) for body in bodies))
    elapsed = time.monotonic() - started
    received = [e.body async for e in bob.history(room_id) if isinstance(e, MessageEvent)
                and e.body.startswith("storm ")]
    assert sorted(received) == sorted(bodies), "lost or doubled messages"
    assert len(set(event_ids)) == 40
    assert alice.transport.retries > 0, "Synapse never answered 429"
    step(f"429 storm: 40 sends, {alice.transport.retries} retries after 429, all arrived once, {elapsed:.1f} s")


async def media_and_relations(alice: Client, bob: Client, room_id: str) -> None:
    data = os.urandom(50_000)
    event_id = await alice.send_file(room_id, data, filename="noise.bin")
    message = await alice.get_event(room_id, event_id)
    assert isinstance(message, MessageEvent) and message.url
    assert (await bob.download(message.url)).data == data
    await bob.react(room_id, event_id, "👍")
    text_id = await alice.send_text(room_id, "tpyo")
    edit_id = await alice.edit(room_id, text_id, "typo")
    await alice.redact(room_id, edit_id)
    assert (await bob.get_event(room_id, edit_id)).redacted or not (await bob.get_event(room_id, edit_id)).content
    step("authenticated media upload/download, reaction, edit, redaction")


async def resume(alice: Client, bob: Client, room_id: str, tmp: Path) -> None:
    store = FileStore(tmp / "bob.sync.json")
    got: list[str] = []

    async def collect(room: Any, event: MessageEvent) -> None:
        got.append(event.body)

    bob.add_handler(MessageEvent, collect)
    await store.save((await bob.sync_once(dispatch=False)).next_batch)
    await alice.send_text(room_id, "while bob is away")
    again = Client(bob.homeserver, session=bob.session)
    again.add_handler(MessageEvent, collect)
    loop = asyncio.create_task(again.sync_forever(store=store))
    while "while bob is away" not in got:
        await asyncio.sleep(0.1)
    again.stop()
    await loop
    assert got == ["while bob is away"], got
    assert again.store.rooms[room_id].joined_user_ids == sorted([alice.user_id, bob.user_id])
    await again.close()
    step("sync_forever resumes from a FileStore, room state rebuilt")


async def welcome(url: str, shared_secret: str, tmp: Path) -> None:
    await register_admin(url, shared_secret, "welcome", PASSWORD)
    bot_client = Client(url)
    await bot_client.login("welcome", PASSWORD)
    bot = WelcomeBot(bot_client, name="welcome", state_dir=tmp, options={"poll_seconds": 3600})
    await bot.start()
    await bot.poll_once()  # the first poll: everyone already there is left alone
    newcomer = await new_user(url, "newcomer", "New Comer")
    welcomed = await bot.poll_once()
    assert welcomed == [newcomer.user_id], welcomed
    assert await bot.poll_once() == []
    await newcomer.sync_once()
    (invite,) = newcomer.store.invites.values()
    assert invite.sender == bot_client.user_id and invite.is_direct
    await bot.stop()
    await bot_client.close()
    await newcomer.close()
    step("welcome bot: learned of a sign-up from /_synapse/admin/v2/users and sent one DM")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synapse-python", default="python3", help="a Python with matrix-synapse installed")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (and Synapse's log)")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="synapse-walkthrough-"))
    port = free_port()
    config_path = write_config(args.synapse_python, data_dir, port)
    shared_secret = yaml.safe_load(config_path.read_text())["registration_shared_secret"]
    process = subprocess.Popen([args.synapse_python, "-m", "synapse.app.homeserver", "--config-path",
                                str(config_path)], cwd=data_dir, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(url, process)
        version = subprocess.run([args.synapse_python, "-c", "import synapse; print(synapse.__version__)"],
                                 capture_output=True, text=True).stdout.strip()
        step(f"Synapse {version} on {url} (SQLite)")
        await walkthrough(url, data_dir)
        await welcome(url, shared_secret, data_dir)
    finally:
        process.terminate()
        process.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
