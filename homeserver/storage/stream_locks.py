"""The advisory locks that make stream positions safe to read across processes.

Every write of a stream holds the shared lock ``(WRITE_LOCK_CLASS, stream)`` from before
it draws a position from ``stream_seq`` until its transaction ends, so another process
can tell which positions may still be in flight (migration 0020, ``stream_writers``;
homeserver/streams/peers.py). A statement that draws positions itself takes the lock
first, with ``lock_sql``.
"""

from __future__ import annotations

WRITE_LOCK_CLASS = 0x73747265  # "stre"


def lock_sql(stream: int) -> str:
    """SQL taking the write lock of ``stream``: evaluate it before drawing positions."""
    return f"pg_advisory_xact_lock_shared({WRITE_LOCK_CLASS}, {int(stream)})"
