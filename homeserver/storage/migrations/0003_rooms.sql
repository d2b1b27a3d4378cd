-- Rooms and their event graphs (spec: server-server-api "PDUs", "Room State Resolution").

CREATE TABLE rooms (
    room_id TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator TEXT,
    created_ts BIGINT NOT NULL,
    -- Published in this server's public room list (/directory/list/room/{roomId}).
    is_public BOOLEAN NOT NULL DEFAULT FALSE
);

-- One position for every change /sync serves (events, account data, receipts, to-device,
-- presence), in the order this server made them (homeserver/sync/streams.py).
CREATE SEQUENCE stream_seq;

CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (room_id),
    stream_ordering BIGINT NOT NULL UNIQUE,
    depth BIGINT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    -- The event exactly as signed (canonical JSON), before any redaction.
    json TEXT NOT NULL,
    -- The state of the room after this event.
    state_group BIGINT NOT NULL,
    -- m.relates_to, indexed for /relations, threads and bundled aggregations.
    relates_to TEXT,
    rel_type TEXT,
    -- Set when a redaction of this event is accepted; the served form is then redacted.
    redacted_by TEXT,
    -- Rejected (failed the auth rules) and soft-failed events are kept but never served.
    rejected_reason TEXT,
    soft_failed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);
CREATE INDEX events_room_depth ON events (room_id, depth, stream_ordering);
CREATE INDEX events_relates_to ON events (relates_to, rel_type) WHERE relates_to IS NOT NULL;

CREATE TABLE event_edges (
    event_id TEXT NOT NULL,
    prev_event_id TEXT NOT NULL,
    PRIMARY KEY (event_id, prev_event_id)
);
CREATE INDEX event_edges_prev ON event_edges (prev_event_id);

CREATE TABLE event_auth (
    event_id TEXT NOT NULL,
    auth_event_id TEXT NOT NULL,
    PRIMARY KEY (event_id, auth_event_id)
);

CREATE TABLE forward_extremities (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

-- State snapshots share unchanged state: a group is its prev_group plus a delta.
-- A chain never grows past a bound; then a full snapshot starts a new chain.
CREATE TABLE state_groups (
    id BIGSERIAL PRIMARY KEY,
    room_id TEXT NOT NULL,
    prev_group BIGINT REFERENCES state_groups (id),
    chain_length INTEGER NOT NULL
);

CREATE TABLE state_group_entries (
    state_group BIGINT NOT NULL REFERENCES state_groups (id),
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (state_group, type, state_key)
);

CREATE TABLE current_state (
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, type, state_key)
);

-- The latest membership of each user in each room (history is in the state groups).
CREATE TABLE room_memberships (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    event_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    forgotten BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX room_memberships_room ON room_memberships (room_id, membership);

-- Idempotent sends: a retried PUT /send/{type}/{txnId} from a device gets the same event.
CREATE TABLE event_txn_ids (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE room_aliases (
    room_alias TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (room_id),
    creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Reports of events, rooms and users, for admins.
CREATE TABLE reports (
    id BIGSERIAL PRIMARY KEY,
    reporter TEXT NOT NULL,
    room_id TEXT,
    event_id TEXT,
    user_id TEXT,
    reason TEXT,
    score INTEGER,
    received_ts BIGINT NOT NULL,
    resolved BOOLEAN NOT NULL DEFAULT FALSE
);
