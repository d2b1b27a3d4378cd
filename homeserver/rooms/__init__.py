"""Rooms: creating them, sending events into their graphs, membership and reads."""
