-- Server-side search (spec: client-server-api "Server Side Search"): one row per
-- searchable event (m.room.message body, m.room.name name, m.room.topic topic), written
-- in the event's own transaction (homeserver/storage/search.py). The 'simple' text search
-- configuration folds case only: no stemming, no stop words, so every language is found.
-- Redacted, rejected and soft-failed events are excluded by joining events at read time.
CREATE TABLE event_search (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    -- The content key the text came from: content.body, content.name or content.topic.
    key TEXT NOT NULL,
    vector TSVECTOR NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);

-- Presence (spec: client-server-api "Presence"): one row per user who has ever been seen;
-- no row reads as offline. Every change /sync serves takes a stream_seq position.
CREATE TABLE presence (
    user_id TEXT PRIMARY KEY,
    -- online, unavailable or offline
    state TEXT NOT NULL,
    status_msg TEXT,
    -- The last pro-active event (a message sent, presence set online).
    last_active_ts BIGINT NOT NULL,
    -- The last /sync or presence update: past presence.offline_after_ms, offline.
    last_seen_ts BIGINT NOT NULL,
    currently_active BOOLEAN NOT NULL DEFAULT FALSE,
    stream_id BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);
-- The timeout sweep (homeserver/users/presence.py) reads only who is due to go idle or offline.
CREATE INDEX presence_seen ON presence (last_seen_ts) WHERE state <> 'offline';
CREATE INDEX presence_active ON presence (last_active_ts) WHERE state = 'online';
