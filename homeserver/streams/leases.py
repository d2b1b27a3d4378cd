"""Background jobs owned by exactly one server process at a time.

A job (the presence timeout sweep, the pusher pool, media expiry, ...) runs only in the
process holding its lease: a session advisory lock ``(JOB_LOCK_CLASS, hash of the
database's and the job's names)`` (advisory locks are the whole PostgreSQL server's, and
other homeservers may keep their databases there) taken on the connection that joins the process to the others (``streams.peers``). PostgreSQL
ends the lease with that connection, so when the owner dies or loses the database,
another process takes the job over at its next try (every ``RETRY_S``, and at once when
it sees a process leave). A process that loses its connection stops its jobs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from homeserver.streams.peers import Peers

log = logging.getLogger(__name__)

JOB_LOCK_CLASS = 0x6A6F6273  # "jobs"
RETRY_S = 1.0

Job = Callable[[], Awaitable[None]]


_TRY = "SELECT pg_try_advisory_lock($1, hashtext(current_database() || '/' || $2))"
_RELEASE = "SELECT pg_advisory_unlock($1, hashtext(current_database() || '/' || $2))"


@dataclass
class _Lease:
    name: str
    job: Job
    task: asyncio.Task[None] | None = None


@dataclass
class Leases:
    peers: Peers
    _leases: dict[str, _Lease] = field(default_factory=dict)
    _loop_task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, name: str, job: Job) -> None:
        """Run ``job()`` (a coroutine that runs until cancelled) whenever this process
        holds the lease ``name``."""
        self._leases[name] = _Lease(name, job)
        self._wake.set()

    def start(self) -> None:
        self.peers.on_disconnect(self._stop_all)
        self.peers.on_connect(lambda conn: self._retry_now())
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="leases")

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await self._stop_jobs()

    def held(self, name: str) -> bool:
        lease = self._leases.get(name)
        return lease is not None and lease.task is not None and not lease.task.done()

    async def _retry_now(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_S)
            self._wake.clear()
            for lease in self._leases.values():
                if lease.task is None or lease.task.done():
                    await self._try(lease)

    async def _try(self, lease: _Lease) -> None:
        try:
            taken = await self.peers.on_listen_connection(
                lambda conn: conn.fetchval(_TRY, JOB_LOCK_CLASS, lease.name)
            )
        except (OSError, ConnectionError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return
        if taken:
            log.info("this process now runs %s", lease.name)
            lease.task = asyncio.get_running_loop().create_task(self._guard(lease), name=f"job-{lease.name}")

    async def _guard(self, lease: _Lease) -> None:
        try:
            await lease.job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped; giving up its lease", lease.name)
            with contextlib.suppress(Exception):
                await self.peers.on_listen_connection(lambda conn: conn.execute(_RELEASE, JOB_LOCK_CLASS, lease.name))

    def _stop_all(self) -> None:
        for lease in self._leases.values():
            if lease.task is not None and not lease.task.done():
                log.warning("stopping %s: its lease went with the database connection", lease.name)
                lease.task.cancel()

    async def _stop_jobs(self) -> None:
        tasks = [lease.task for lease in self._leases.values() if lease.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
