"""Readable positions never pass a write still in flight, stream by stream."""

from __future__ import annotations

from homeserver.streams.positions import Positions, Stream


def test_out_of_order_commits_hold_the_position_back() -> None:
    positions = Positions()
    slow = positions.begin([Stream.EVENTS])
    positions.expect(slow)
    positions.allocated(slow, [1])
    fast = positions.begin([Stream.EVENTS])
    positions.expect(fast)
    positions.allocated(fast, [2])
    positions.end(fast)
    assert positions.readable(Stream.EVENTS) == 0, "2 committed, but 1 has not: readers stay below 1"
    positions.end(slow)
    assert positions.readable(Stream.EVENTS) == 2


def test_a_writer_without_its_position_yet_pins_the_last_allocated() -> None:
    positions = Positions()
    done = positions.begin([Stream.EVENTS])
    positions.expect(done)
    positions.allocated(done, [1])
    positions.end(done)
    waiting = positions.begin([Stream.EVENTS])
    positions.expect(waiting)  # its nextval is not back yet
    other = positions.begin([Stream.EVENTS])
    positions.expect(other)
    positions.allocated(other, [2])
    positions.end(other)
    assert positions.readable(Stream.EVENTS) == 1, "whatever the first one gets will be above 1"
    positions.allocated(waiting, [3])
    assert positions.readable(Stream.EVENTS) == 2
    positions.end(waiting)
    assert positions.readable(Stream.EVENTS) == 3


def test_a_write_holds_back_only_its_own_streams() -> None:
    positions = Positions()
    receipts = positions.begin([Stream.RECEIPTS, Stream.ACCOUNT_DATA])
    positions.expect(receipts)
    positions.allocated(receipts, [5])
    events = positions.begin([Stream.EVENTS])
    positions.expect(events)
    positions.allocated(events, [6])
    positions.end(events)
    assert positions.readable(Stream.EVENTS) == 6, "a receipt still in flight does not delay messages"
    assert positions.readable(Stream.RECEIPTS) == 4
    assert positions.readable(Stream.ACCOUNT_DATA) == 4
    positions.end(receipts)
    assert positions.readable(Stream.RECEIPTS) == 6


def test_positions_seen_elsewhere_move_the_last_allocated_on() -> None:
    positions = Positions(last_allocated=3)
    positions.observe(10)
    positions.observe(7)
    assert positions.readable(Stream.TYPING) == 10


def test_a_write_holds_nothing_back_until_it_expects_positions() -> None:
    positions = Positions(last_allocated=4)
    long_transaction = positions.begin([Stream.EVENTS])
    message = positions.begin([Stream.EVENTS])
    positions.expect(message)
    positions.allocated(message, [5])
    positions.end(message)
    assert positions.readable(Stream.EVENTS) == 5, "a write still preparing holds nothing back"
    positions.expect(long_transaction)
    assert positions.readable(Stream.EVENTS) == 5
    positions.allocated(long_transaction, [6])
    positions.end(long_transaction)
    assert positions.readable(Stream.EVENTS) == 6


def test_positions_drawn_without_expecting_them_are_refused() -> None:
    import pytest

    positions = Positions()
    write = positions.begin([Stream.EVENTS])
    with pytest.raises(RuntimeError):
        positions.allocated(write, [1])
