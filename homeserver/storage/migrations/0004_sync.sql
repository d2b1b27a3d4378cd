-- Filters uploaded by clients (POST /user/{userId}/filter) and to-device messages.

CREATE TABLE filters (
    user_id TEXT NOT NULL,
    filter_id BIGSERIAL,
    filter JSONB NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

-- Delivered in stream order, deleted once a later /sync acknowledges them.
CREATE TABLE to_device_messages (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    content JSONB NOT NULL,
    PRIMARY KEY (user_id, device_id, stream_id)
);

-- Idempotent PUT /sendToDevice/{eventType}/{txnId} per sending device.
CREATE TABLE to_device_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Where a user's memberships changed, in stream order: /sync finds joins, invites and
-- leaves since a token with one indexed read.
CREATE INDEX room_memberships_user_stream ON room_memberships (user_id, stream_ordering);
