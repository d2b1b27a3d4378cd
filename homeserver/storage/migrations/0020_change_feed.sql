-- The change feed across processes (homeserver/streams/peers.py).
--
-- stream_writers: the sequence's last value, then the writes in flight per stream (each
-- holds a shared advisory lock (write_class, stream) from before it draws a position
-- until it ends) and the live server processes (each holds (process_class, number) for
-- its life). Read in that order, every position up to ``last`` is settled once each of
-- the writes listed has ended: a write that draws a position after ``last`` was read
-- gets a higher one.
CREATE FUNCTION stream_writers(write_class integer, process_class integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last bigint;
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO last FROM stream_seq;
    RETURN jsonb_build_object(
        'last', last,
        'writers', (SELECT COALESCE(jsonb_object_agg(stream, writers), '{}'::jsonb) FROM (
            SELECT objid::bigint AS stream, jsonb_agg(virtualtransaction) AS writers FROM pg_locks
            WHERE locktype = 'advisory' AND classid = write_class::oid AND objsubid = 2 AND granted
            GROUP BY objid) w),
        'processes', (SELECT COALESCE(jsonb_agg(objid::bigint), '[]'::jsonb) FROM pg_locks
            WHERE locktype = 'advisory' AND classid = process_class::oid AND objsubid = 2 AND granted));
END $$;

-- Typing notices (rooms/typing.py), shared by every process. Ephemeral: UNLOGGED, so a
-- crash forgets them, as a restart of a single process always did.
CREATE UNLOGGED TABLE typing (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    expires_ts BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX typing_expiry ON typing (expires_ts);

-- The position of each room's latest change of typers, for /sync.
CREATE UNLOGGED TABLE typing_changes (
    room_id TEXT PRIMARY KEY,
    stream_id BIGINT NOT NULL
);
CREATE INDEX typing_changes_stream ON typing_changes (stream_id);

-- Token buckets of the rate limiter (homeserver/ratelimit.py), shared by every process.
CREATE UNLOGGED TABLE rate_limit_buckets (
    action TEXT NOT NULL,
    key TEXT NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL,
    allowed BOOLEAN NOT NULL,
    PRIMARY KEY (action, key)
);
CREATE INDEX rate_limit_buckets_updated ON rate_limit_buckets (updated_ms);

-- Device-list changes (for end-to-end encryption): a user's devices or their keys
-- changed at stream_id. /sync's device_lists.changed reads it for the users who share a
-- room with the syncing user.
CREATE TABLE device_list_changes (
    user_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, stream_id)
);
CREATE INDEX device_list_changes_stream ON device_list_changes (stream_id);
