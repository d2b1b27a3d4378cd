-- Issue 9: login lockout shared by every server process, refresh token families, and
-- client transaction IDs scoped to their endpoint.

-- Login attempts per key ("user:@a:b" or "ip:1.2.3.4"), counted before the password is
-- checked (users/login.py), so concurrent guesses count and every process sees them.
CREATE TABLE login_attempts (
    key TEXT PRIMARY KEY,
    -- Attempts in the window that started at window_start; a success refunds its own.
    attempts INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    -- 0: not locked out.
    locked_until BIGINT NOT NULL,
    -- When the row stops mattering (window over and lockout over); pruned past it.
    expires_ts BIGINT NOT NULL
);
CREATE INDEX login_attempts_expiry ON login_attempts (expires_ts);

-- The refresh tokens of one login share a family, named inside each token. A token of a
-- known family that is no longer valid has been rotated away: a replay, so someone else
-- holds a copy, and the family (its access tokens with it) is revoked.
ALTER TABLE refresh_tokens ADD COLUMN family TEXT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family) WHERE family IS NOT NULL;

-- A transaction ID is scoped to a device and an HTTP endpoint (client-server-api
-- "Transaction identifiers": a retransmission has the same path): the room and the rest
-- of the path (send/{eventType} or redact/{eventId}) are part of the key.
ALTER TABLE event_txn_ids ADD COLUMN room_id TEXT, ADD COLUMN endpoint TEXT, DROP CONSTRAINT event_txn_ids_pkey;
UPDATE event_txn_ids t SET
    room_id = e.room_id,
    endpoint = CASE
        WHEN e.type = 'm.room.redaction' AND t.txn_id LIKE 'redact/%' THEN
            'redact/' || COALESCE(e.json::jsonb ->> 'redacts', e.json::jsonb -> 'content' ->> 'redacts', '')
        ELSE 'send/' || e.type END,
    txn_id = CASE WHEN e.type = 'm.room.redaction' AND t.txn_id LIKE 'redact/%' THEN substr(t.txn_id, 8)
             ELSE t.txn_id END
FROM events e WHERE e.event_id = t.event_id;
DELETE FROM event_txn_ids WHERE room_id IS NULL;
ALTER TABLE event_txn_ids ALTER COLUMN room_id SET NOT NULL, ALTER COLUMN endpoint SET NOT NULL;
ALTER TABLE event_txn_ids ADD CONSTRAINT event_txn_ids_pkey PRIMARY KEY (user_id, device_id, room_id, endpoint, txn_id);

-- The user directory: each entry's indexed word prefixes also as an array, under a GIN
-- index, so a search of several words (a whole name) intersects their posting lists
-- instead of walking the users of its most common word one by one (storage/directory.py).
ALTER TABLE user_directory ADD COLUMN prefixes TEXT[] NOT NULL DEFAULT '{}';
UPDATE user_directory d SET prefixes = p.prefixes
FROM (SELECT user_id, array_agg(prefix) AS prefixes FROM user_directory_prefixes GROUP BY user_id) p
WHERE p.user_id = d.user_id;
CREATE INDEX user_directory_prefix_sets ON user_directory USING gin (prefixes);
