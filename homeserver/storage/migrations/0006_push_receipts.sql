-- Receipts, push rules, push actions (unread counts, /notifications) and pushers
-- (spec: client-server-api "Receipts", "Push Notifications").

-- The latest receipt of each user, type and thread in each room. thread_id '' is an
-- unthreaded receipt, 'main' the main timeline, otherwise the thread root's event ID.
CREATE TABLE receipts (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- Of the acknowledged event: receipts only move forward, and count what is read.
    event_stream_ordering BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    -- Position in stream_seq of the change, for /sync.
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_id);
CREATE INDEX receipts_user ON receipts (user_id, room_id);

-- A user's own latest event in a room (per thread) marks what came before as read
-- (push.md "Marking notifications as read": "by sending an event").
CREATE TABLE sent_read_positions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
);

-- Each user's push rules: their own rules by kind, in priority order, and their changes
-- to the server-default rules (homeserver/push/rules.py). No row: the defaults alone.
CREATE TABLE push_rules (
    user_id TEXT PRIMARY KEY,
    rules JSONB NOT NULL,
    defaults JSONB NOT NULL,
    -- Position in stream_seq of the latest change: m.push_rules account data for /sync,
    -- and the version the in-process rules cache checks.
    stream_id BIGINT NOT NULL
);

-- What the push rules decided for each local user and each event that notifies or
-- highlights: unread counts, /notifications and pushers read it.
CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    -- 'main' or the thread root's event ID.
    thread_id TEXT NOT NULL,
    actions JSONB NOT NULL,
    notif BOOLEAN NOT NULL,
    highlight BOOLEAN NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
);
CREATE INDEX event_push_actions_user_stream ON event_push_actions (user_id, stream_ordering);

-- HTTP pushers (push-gateway-api.md). last_stream_ordering: every notification up to it
-- has been sent (or given up on).
CREATE TABLE pushers (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    data JSONB NOT NULL,
    pushkey_ts BIGINT NOT NULL,
    device_id TEXT,
    last_stream_ordering BIGINT NOT NULL,
    UNIQUE (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey);
