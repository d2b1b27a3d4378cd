"""The change feed: stream positions, wake-ups and cache invalidation in one place,
across every server process on the database (DESIGN.md "The event graph and streams").

- ``positions``: which positions of each stream this process's writes hold back;
- ``feed``: writers announce committed changes; the feed invalidates caches, waits for
  positions to become readable, wakes the waiters a change concerns, tells subscribers;
- ``waiters``: parked /sync long-polls;
- ``peers``: the other processes (LISTEN/NOTIFY, settling positions through PostgreSQL);
- ``leases``: background jobs owned by one process at a time.
"""

from homeserver.streams.changes import Change, CommittedEvent, Invalidation, Notify
from homeserver.streams.feed import ChangeFeed, Writer
from homeserver.streams.positions import ALL_STREAMS, Stream

__all__ = [
    "ALL_STREAMS", "Change", "ChangeFeed", "CommittedEvent", "Invalidation", "Notify", "Stream", "Writer"]
