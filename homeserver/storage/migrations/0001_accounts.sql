-- Accounts, devices, tokens, profiles and user-interactive auth sessions.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    localpart TEXT NOT NULL UNIQUE,
    -- argon2id PHC string; NULL for accounts that cannot log in with a password.
    password_hash TEXT,
    created_ts BIGINT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    -- A deactivated account keeps its row so its localpart is never reused.
    deactivated BOOLEAN NOT NULL DEFAULT FALSE,
    -- The version of the terms the user agreed to at sign-up, if any.
    consent_version TEXT
);

CREATE TABLE devices (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    device_id TEXT NOT NULL,
    display_name TEXT,
    created_ts BIGINT NOT NULL,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    last_seen_user_agent TEXT,
    PRIMARY KEY (user_id, device_id)
);

-- Tokens are stored only as SHA-256 hashes of the secret the client holds.
CREATE TABLE refresh_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT,
    -- Set once the token has been exchanged; the old one then stops working as soon
    -- as the new access token is used (rotation with a grace period, per the spec).
    next_id BIGINT REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

CREATE TABLE access_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    -- NULL: never expires. Set for access tokens issued with a refresh token.
    expires_ts BIGINT,
    refresh_token_id BIGINT REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

CREATE TABLE profiles (
    user_id TEXT PRIMARY KEY REFERENCES users (user_id),
    displayname TEXT,
    avatar_url TEXT
);

-- User-interactive auth (spec: client-server-api "User-interactive authentication API").
CREATE TABLE uia_sessions (
    session_id TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL,
    -- The request the session was started for; a session cannot be reused for another.
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    -- The user re-authenticating; NULL while registering.
    user_id TEXT,
    -- Stage type -> result (true, or the stage's stored result).
    completed JSONB NOT NULL DEFAULT '{}',
    -- Values remembered between the requests of one session (e.g. the registration body).
    params JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX uia_sessions_created ON uia_sessions (created_ts);

-- Account data (global when room_id = ''), kept server-side for the user's clients.
CREATE TABLE account_data (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    room_id TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    content JSONB NOT NULL,
    -- Position in stream_seq (see homeserver/sync/streams.py), fresh on every write.
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);

-- One-time nonces for shared-secret registration (/_synapse/admin/v1/register).
CREATE TABLE registration_nonces (
    nonce TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL
);
