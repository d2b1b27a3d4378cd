-- Every message insert paid for two things nothing reads: the foreign key from events to
-- rooms (its check locks the room's row, a heap write and WAL record per event; rooms are
-- always inserted first, in the create event's own transaction) and the (room, depth)
-- index (no query orders by depth; federation backfill will bring it back when it needs
-- it).
ALTER TABLE events DROP CONSTRAINT events_room_id_fkey;
DROP INDEX events_room_depth;
