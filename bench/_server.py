"""Shared by the benchmarks: a real `homeserver run` process on a fresh embedded database
(or --database-url), and an HTTP client that registers users on it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(name: str, samples_ms: list[float]) -> str:
    return (f"{name}: n={len(samples_ms)} p50={percentile(samples_ms, 50):.2f} ms "
            f"p99={percentile(samples_ms, 99):.2f} ms mean={statistics.fmean(samples_ms):.2f} ms")


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.url + path, json=body, headers=headers) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return data

    async def register(self, localpart: str, password: str = "benchmark password") -> str:
        body = {"username": localpart, "password": password, "auth": {"type": "m.login.dummy"}}
        return (await self.call("POST", "/_matrix/client/v3/register", body))["access_token"]


@asynccontextmanager
async def running_server(
    database_url: str | None = None, config: dict[str, Any] | None = None
) -> AsyncIterator[Server]:
    data_dir = Path(tempfile.mkdtemp(prefix="homeserver-bench-"))
    port = free_port()
    fresh = await _create_database(database_url) if database_url else None
    raw: dict[str, Any] = {
        "server": {"server_name": "bench.local", "listeners": [{"port": port}]},
        "rate_limits": {"enabled": False},
        "database": {"url": fresh[1]} if fresh else {},
        **(config or {}),
    }
    (data_dir / "homeserver.yaml").write_text(yaml.safe_dump(raw))
    # The server's log goes to a file: a pipe nobody reads fills up and blocks the server.
    with open(data_dir / "server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run", "--config", str(data_dir / "homeserver.yaml")],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONOPTIMIZE": "1"},
        )
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with session.get(url + "/_matrix/client/versions") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + (data_dir / "server.log").read_text())
            await asyncio.sleep(0.2)
        yield Server(url, data_dir, process, session)
    finally:
        await session.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        if fresh is not None:
            await _drop_database(database_url, fresh[0])  # type: ignore[arg-type]
        shutil.rmtree(data_dir, ignore_errors=True)


async def _create_database(server_url: str) -> tuple[str, str]:
    """A new database on the PostgreSQL at ``server_url``: its name and URL."""
    import asyncpg

    name = f"bench_{os.getpid()}_{time.monotonic_ns()}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    base, sep, query = server_url.partition("?")
    return name, f"{base.rsplit('/', 1)[0] if base.count('/') > 2 else base}/{name}{sep}{query}"


async def _drop_database(server_url: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@asynccontextmanager
async def running_cluster(
    count: int, database_url: str | None = None, config: dict[str, Any] | None = None
) -> AsyncIterator[list[Server]]:
    """``count`` server processes of one server on one fresh database (of the PostgreSQL
    at ``database_url``, or of an embedded one started here), sharing the signing key
    and the media directory, as behind a load balancer."""
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="homeserver-bench-cluster-"))
    embedded = None
    if database_url is None:
        embedded = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
        database_url = embedded.get_uri()
    name, url = await _create_database(database_url)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    processes: list[subprocess.Popen[bytes]] = []
    servers = []
    try:
        for index in range(count):
            port = free_port()
            raw: dict[str, Any] = {
                "server": {"server_name": "bench.local", "listeners": [{"port": port}],
                           "signing_key_path": str(data_dir / "signing.key")},
                "rate_limits": {"enabled": False},
                "database": {"url": url},
                "media": {"store_path": str(data_dir / "media")},
                **(config or {}),
            }
            path = data_dir / f"process{index}.yaml"
            path.write_text(yaml.safe_dump(raw))
            process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "run", "--config", str(path)], cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=(data_dir / f"process{index}.log").open("wb"),
                env={**os.environ, "PYTHONOPTIMIZE": "1"},
            )
            processes.append(process)
            server = Server(f"http://127.0.0.1:{port}", data_dir, process, session)
            await _wait_until_serving(server)
            servers.append(server)
        yield servers
    finally:
        await session.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        await _drop_database(database_url, name)
        if embedded is not None:
            embedded.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            async with server.session.get(server.url + "/_matrix/client/versions") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start; see {server.data_dir}")
        await asyncio.sleep(0.2)


def cpu_seconds_by_command() -> dict[str, float]:
    """User plus system CPU seconds used so far by every process on the machine, summed
    by command name (``python``, ``postgres``...): sampled before and after a phase, it
    shows where a benchmark's CPU went."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_report(before: dict[str, float], after: dict[str, float], server_cpu: float, own_cpu: float, count: int) -> str:
    """CPU per operation: the server process, the load generator, PostgreSQL, the rest."""
    postgres = after.get("postgres", 0.0) - before.get("postgres", 0.0)
    everything = sum(after.values()) - sum(v for k, v in before.items() if k in after)
    rest = max(0.0, everything - postgres - server_cpu - own_cpu)
    per = 1e6 / max(count, 1)
    return (f"CPU per operation: server {server_cpu * per:.0f} us, load generator {own_cpu * per:.0f} us, "
            f"PostgreSQL {postgres * per:.0f} us, other processes {rest * per:.0f} us")


def server_rss_mb(server: Server) -> float:
    with open(f"/proc/{server.process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
