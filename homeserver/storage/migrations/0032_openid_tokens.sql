-- OpenID tokens (spec: client-server-api "OpenID"): a user proves their identity to a
-- third party, which asks /_matrix/federation/v1/openid/userinfo. Stored as SHA-256.
CREATE TABLE openid_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
