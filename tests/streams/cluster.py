"""Several ``homeserver run`` processes of one server on one PostgreSQL, for the tests of
what crosses between them. They share the database, the signing key and the media
directory, and nothing else."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.helpers import CLIENT

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    index: int
    config: Path
    log: Path
    url: str
    proc: asyncio.subprocess.Process | None = None


@dataclass
class Cluster:
    database_url: str
    base: Path
    session: aiohttp.ClientSession
    overrides: dict[str, Any] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def add(self) -> Process:
        index = len(self.processes)
        port = free_port()
        raw = {
            "server": {"server_name": "test.local", "signing_key_path": str(self.base / "signing.key"),
                       "listeners": [{"bind": "127.0.0.1", "port": port}]},
            "database": {"url": self.database_url, "pool_max_size": 8},
            "auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}},
            "rate_limits": {"enabled": False},
            "media": {"store_path": str(self.base / "media")},
            **self.overrides,
        }
        config = self.base / f"process{index}.yaml"
        config.write_text(yaml.safe_dump(raw))
        process = Process(index, config, self.base / f"process{index}.log", f"http://127.0.0.1:{port}")
        self.processes.append(process)
        return process

    async def start(self, process: Process) -> None:
        log = process.log.open("ab")
        process.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "run", "--config", str(process.config),
            cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            if process.proc.returncode is not None:
                raise AssertionError(f"process {process.index} exited:\n{process.log.read_text()[-3000:]}")
            try:
                async with self.session.get(process.url + "/_matrix/client/versions") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"process {process.index} did not start:\n{process.log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)

    async def kill(self, process: Process) -> None:
        assert process.proc is not None
        process.proc.send_signal(signal.SIGKILL)
        await process.proc.wait()

    async def stop_all(self) -> None:
        for process in self.processes:
            if process.proc is not None and process.proc.returncode is None:
                process.proc.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process.proc is not None:
                try:
                    await asyncio.wait_for(process.proc.wait(), 20)
                except TimeoutError:
                    process.proc.kill()
                    await process.proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- process {p.index}\n{p.log.read_text()[-4000:]}" for p in self.processes if p.log.exists())


@dataclass
class Client:
    """A user's access through one process."""

    session: aiohttp.ClientSession
    url: str
    user_id: str
    token: str

    async def request(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        async with self.session.request(
            method, f"{self.url}{CLIENT}/{path}", json=body, params=params or None,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    def via(self, process: Process) -> Client:
        return Client(self.session, process.url, self.user_id, self.token)


async def register(session: aiohttp.ClientSession, process: Process, localpart: str) -> Client:
    async with session.post(f"{process.url}{CLIENT}/register", json={
        "username": localpart, "password": "correct horse battery", "auth": {"type": "m.login.dummy"},
    }) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return Client(session, process.url, body["user_id"], body["access_token"])
