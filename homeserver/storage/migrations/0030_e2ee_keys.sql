-- End-to-end encryption keys (homeserver/e2ee; spec: client-server-api "End-to-End
-- Encryption"). The server keeps public keys and opaque encrypted data only.

-- Each device's identity keys, as the device uploaded and signed them (/keys/upload
-- device_keys). Signatures others add later live in e2e_signatures.
CREATE TABLE e2e_device_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json JSONB NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- One-time keys not yet claimed. Claims hand them out in upload order (id) and delete
-- them in the same statement, so each is handed out once.
CREATE TABLE e2e_one_time_keys (
    id BIGSERIAL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json JSONB NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- At most one fallback key per device and algorithm; ``used`` once a claim handed it out
-- (/sync's device_unused_fallback_key_types lists the unused ones).
CREATE TABLE e2e_fallback_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json JSONB NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Each user's current cross-signing keys (key_type: master, self_signing, user_signing),
-- with the signatures uploaded alongside them.
CREATE TABLE e2e_cross_signing_keys (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    key_type TEXT NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
    -- The unpadded base64 ed25519 public key (the key's ID after "ed25519:").
    public_key TEXT NOT NULL,
    key_json JSONB NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded with /keys/signatures/upload, apart from the keys they sign: a
-- reader sees only those made by the key's owner or by the reader (spec: "Key and
-- signature security"). target_key_id is a device ID or a cross-signing public key.
CREATE TABLE e2e_signatures (
    target_user_id TEXT NOT NULL,
    target_key_id TEXT NOT NULL,
    signer_user_id TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

-- A device-list change only one user may hear of (a signature that user's user-signing
-- key made on another user's master key); NULL: everyone who shares an encrypted room.
ALTER TABLE device_list_changes ADD COLUMN observer TEXT;

-- Server-side key backups (spec: "Server-side key backups"). Deleted versions keep their
-- row (deleted), so a version number is never handed out twice.
CREATE TABLE e2e_room_keys_versions (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data JSONB NOT NULL,
    -- Bumped whenever the stored keys change; served as the backup's etag.
    etag BIGINT NOT NULL DEFAULT 0,
    key_count BIGINT NOT NULL DEFAULT 0,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE e2e_room_keys (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count BIGINT NOT NULL,
    is_verified BOOLEAN NOT NULL,
    session_data JSONB NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id),
    FOREIGN KEY (user_id, version) REFERENCES e2e_room_keys_versions (user_id, version) ON DELETE CASCADE
);
