-- The media repository (spec: client-server-api "Content repository"). The bytes live in
-- the media store (homeserver/media/store.py), one file per distinct SHA-256; these rows
-- say which media IDs point at which content. Remote media, once federation fetches it,
-- is cached in the same table under its origin server name.
CREATE TABLE media (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    -- The local user who uploaded (or reserved) it; NULL for remote media.
    uploader TEXT,
    created_ts BIGINT NOT NULL,
    -- All NULL while a media ID from POST /_matrix/media/v1/create awaits its upload.
    sha256 TEXT,
    size BIGINT,
    content_type TEXT,
    uploaded_ts BIGINT,
    -- The `filename` given at upload, served back in Content-Disposition.
    upload_name TEXT,
    -- For content whose bytes sniff as an image this server can thumbnail: that type
    -- (never the uploader's claim) and its upright dimensions. NULL otherwise.
    image_type TEXT,
    width INTEGER,
    height INTEGER,
    -- A reserved media ID not uploaded to by then is gone (unused_expires_at).
    unused_expires_ts BIGINT,
    -- Updated on download at most every few minutes (homeserver/media/repository.py).
    last_access_ts BIGINT,
    -- Uploaded while unauthenticated downloads were frozen: served only by the
    -- authenticated endpoints.
    authenticated BOOLEAN NOT NULL,
    -- Set by a server admin: the media answers 404 everywhere.
    quarantined_by TEXT,
    PRIMARY KEY (origin, media_id)
);
-- Counting a user's pending (reserved, not uploaded) media IDs.
CREATE INDEX media_pending ON media (uploader, unused_expires_ts) WHERE sha256 IS NULL;

-- Thumbnails, keyed by the size and method asked for; pre-generated ones are the spec's
-- recommended sizes, made at upload. The thumbnail's own bytes are in the media store.
CREATE TABLE media_thumbnails (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated BOOLEAN NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- The thumbnail's real dimensions (never larger than the original).
    actual_width INTEGER NOT NULL,
    actual_height INTEGER NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method, animated),
    FOREIGN KEY (origin, media_id) REFERENCES media ON DELETE CASCADE
);
