"""The stream tracker never hands out a position past a write still in flight."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from homeserver.sync.streams import StreamTracker


class FakeSequence:
    """Stands in for a connection's nextval('stream_seq'), with a pause to interleave writers."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    async def fetch(self, query: str, count: int) -> list[dict[str, Any]]:
        values = [{"p": next(self._next)} for _ in range(count)]
        await asyncio.sleep(0)
        return values


async def test_out_of_order_commits_hold_the_position_back() -> None:
    tracker, seq = StreamTracker(), FakeSequence()
    first_started, second_done, release_first = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with tracker.writing() as writer:
            await writer.next(seq)  # gets 1
            first_started.set()
            await release_first.wait()

    async def fast_writer() -> None:
        await first_started.wait()
        async with tracker.writing() as writer:
            await writer.next(seq)  # gets 2, commits first
        second_done.set()

    slow = asyncio.create_task(slow_writer())
    fast = asyncio.create_task(fast_writer())
    await second_done.wait()
    assert tracker.current() == 0, "position 2 committed, but 1 has not: readers stay below 1"
    release_first.set()
    await asyncio.gather(slow, fast)
    assert tracker.current() == 2


async def test_a_writer_without_its_position_yet_pins_the_last_allocated() -> None:
    tracker, seq = StreamTracker(), FakeSequence()
    async with tracker.writing() as done:
        await done.next(seq)
    assert tracker.current() == 1
    async with tracker.writing():
        # Its nextval is not back yet; whatever it gets will be above 1.
        assert tracker.current() == 1
        async with tracker.writing() as other:
            await other.next(seq)
        assert tracker.current() == 1
    assert tracker.current() == 2
