"""A bot answering commands: answers per second, and p50/p99 from a command sent to its
answer received.

    python bench/bench_bot.py [--database-url URL] [--rounds 500] [--users 20] [--seconds 10] [--poll-timeout-ms 2000]

A real ``homeserver run`` process on a fresh embedded database (rate limits off), and the
echo bot as a real ``python -m bots run`` process, logged in as its own user. The load
generator (this process, the minimal HTTP client of ``bench/_http.py``) plays the users:
each has a room with the bot, sends ``!echo N`` and long-polls its own /sync until the
bot's answer (a reply to that command) arrives.

1. Latency: one user, --rounds commands one after another (after 30 unmeasured); p50 and
   p99 of send-to-answer.
2. Throughput: --users users at once, each sending its next command as soon as the last
   was answered, for --seconds; answers per second, and the latency under that load.

Three processes and PostgreSQL share the machine's two cores. The users' long-polls time
out after --poll-timeout-ms (2 s): a long-poll the server failed to wake would cost 2 s,
not 30, and is counted apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http import RawConnection  # noqa: E402
from bench._server import ROOT, Server, percentile, process_cpu_seconds, running_server, summary  # noqa: E402

CHEAP_HASH = {"auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}}}
CLIENT = "/_matrix/client/v3"


def sync_filter(user_id: str) -> str:
    """The user's /sync: the room's timeline without their own messages (so a long-poll
    wakes for the answer, not for the command just sent), nothing else."""
    return quote(json.dumps({"room": {"timeline": {"limit": 20, "not_senders": [user_id]},
                                      "ephemeral": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]}},
                             "presence": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]}}))


class Commander:
    """One user with a room shared with the bot: sends a command, waits for the answer."""

    def __init__(self, server: Server, token: str, user_id: str, room_id: str, bot_id: str,
                 poll_timeout_ms: int) -> None:
        self.server, self.token, self.room_id, self.bot_id = server, token, room_id, bot_id
        self.filter = sync_filter(user_id)
        self.poll_timeout_ms = poll_timeout_ms
        self.since: str | None = None
        self.count = 0
        # (ms from command to answer made, ms from answer made to received) when over 1 s.
        self.slow: list[tuple[float, float]] = []

    async def open(self) -> None:
        self.send_conn = await RawConnection.open(self.server.url)
        self.sync_conn = await RawConnection.open(self.server.url)
        _, body = await self.sync_conn.request("GET", f"{CLIENT}/sync?timeout=0&filter={self.filter}", token=self.token)
        self.since = body["next_batch"]

    async def command(self) -> float:
        """Seconds from sending ``!echo N`` to receiving the bot's reply to it."""
        self.count += 1
        txn = f"bench{self.count}"
        started = time.perf_counter()
        status, body = await self.send_conn.request(
            "PUT", f"{CLIENT}/rooms/{quote(self.room_id)}/send/m.room.message/{txn}",
            {"msgtype": "m.text", "body": f"!echo {self.count}"}, token=self.token)
        assert status == 200, body
        command_id = body["event_id"]
        sent_ms = time.time() * 1000
        while True:
            status, body = await self.sync_conn.request(
                "GET", f"{CLIENT}/sync?since={self.since}&timeout={self.poll_timeout_ms}&filter={self.filter}",
                token=self.token)
            assert status == 200, body
            self.since = body["next_batch"]
            room = body.get("rooms", {}).get("join", {}).get(self.room_id, {})
            for event in room.get("timeline", {}).get("events", []):
                reply = event["content"].get("m.relates_to", {}).get("m.in_reply_to", {})
                if event["sender"] == self.bot_id and reply.get("event_id") == command_id:
                    took = time.perf_counter() - started
                    if took > 1:
                        # Which side was late: the bot answering, or the answer reaching us.
                        self.slow.append((event["origin_server_ts"] - sent_ms,
                                          time.time() * 1000 - event["origin_server_ts"]))
                    return took


async def setup(server: Server, users: int, poll_timeout_ms: int) -> tuple[str, list[Commander]]:
    bot_token = await server.register("echo", "bot password")
    bot_id = (await server.call("GET", CLIENT + "/account/whoami", token=bot_token))["user_id"]
    commanders = []
    for i in range(users):
        token = await server.register(f"user{i}")
        user_id = (await server.call("GET", CLIENT + "/account/whoami", token=token))["user_id"]
        room = (await server.call("POST", CLIENT + "/createRoom", {"invite": [bot_id]}, token))["room_id"]
        await server.call("POST", CLIENT + f"/join/{quote(room)}", {}, bot_token)
        commanders.append(Commander(server, token, user_id, room, bot_id, poll_timeout_ms))
    await server.call("POST", CLIENT + "/logout", {}, bot_token)  # the bot logs in for itself
    return bot_id, commanders


def start_bot(server: Server, state: Path) -> subprocess.Popen[bytes]:
    config = {"homeserver": server.url, "state_dir": str(state),
              "bots": [{"name": "echo", "class": "echo", "user": "echo", "password": "bot password"}]}
    (state / "bots.yaml").write_text(yaml.safe_dump(config))
    return subprocess.Popen([sys.executable, "-m", "bots", "run", str(state / "bots.yaml"), "--log-level", "WARNING"],
                            cwd=ROOT, env={**os.environ, "PYTHONOPTIMIZE": "1"})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--poll-timeout-ms", type=int, default=2000,
                        help="the users' long-poll timeout: what a missed wake-up costs")
    args = parser.parse_args()
    async with running_server(args.database_url, CHEAP_HASH) as server:
        _, commanders = await setup(server, args.users, args.poll_timeout_ms)
        state = server.data_dir / "bot-state"
        state.mkdir()
        bot = start_bot(server, state)
        try:
            while not (state / "echo.sync.json").exists():  # the bot has synced once
                assert bot.poll() is None, "the bot did not start"
                await asyncio.sleep(0.05)
            for commander in commanders:
                await commander.open()
            await latency(commanders[0], args.rounds)
            cpu_before = (process_cpu_seconds(bot.pid), process_cpu_seconds(server.process.pid))
            answered = await throughput(commanders, args.seconds)
            bot_cpu = process_cpu_seconds(bot.pid) - cpu_before[0]
            server_cpu = process_cpu_seconds(server.process.pid) - cpu_before[1]
            print(f"  CPU per answered command: bot process {bot_cpu / answered * 1e6:.0f} us, "
                  f"server process {server_cpu / answered * 1e6:.0f} us")
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
        print(f"bot exited with {bot.returncode} after SIGTERM")


async def latency(commander: Commander, rounds: int) -> None:
    for _ in range(30):
        await commander.command()
    samples = [await commander.command() * 1000 for _ in range(rounds)]
    print(summary("command to answer, one user", samples))
    commander.slow.clear()


async def throughput(commanders: list[Commander], seconds: float) -> int:
    samples: list[tuple[float, float]] = []  # (finished at, latency ms)
    started = time.perf_counter()
    deadline = started + seconds

    async def user(commander: Commander) -> None:
        while time.perf_counter() < deadline:
            latency = await commander.command() * 1000
            samples.append((time.perf_counter(), latency))

    await asyncio.gather(*(user(c) for c in commanders))
    in_window = [latency for finished, latency in samples if finished <= deadline]
    print(f"{len(commanders)} users at once: {len(in_window) / seconds:.0f} commands answered/s in {seconds:.0f} s "
          f"(p50 {percentile(in_window, 50):.1f} ms, p99 {percentile(in_window, 99):.1f} ms, n={len(in_window)})")
    slow = [s for c in commanders for s in c.slow]
    if slow:
        late_delivery = sum(1 for made, received in slow if received > 1000)
        print(f"  {len(slow)} of {len(samples)} answers took over 1 s (max {max(l for _, l in samples):.0f} ms); "
              f"in {late_delivery} the answer was made in time but its /sync long-poll was not woken")
    return len(samples)


if __name__ == "__main__":
    asyncio.run(main())
