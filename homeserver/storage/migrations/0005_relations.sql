-- Thread roots of a room by latest activity (GET /rooms/{roomId}/threads) without
-- scanning the room's other events.
CREATE INDEX events_room_threads ON events (room_id, stream_ordering) WHERE rel_type = 'm.thread';
