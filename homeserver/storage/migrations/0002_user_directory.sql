-- The user directory (spec: client-server-api "User Directory"): one entry per local user
-- who can be found, with their profile and folded search keys (see homeserver/users/directory.py).
-- A deactivated user has no entry.

CREATE TABLE user_directory (
    user_id TEXT PRIMARY KEY REFERENCES users (user_id),
    displayname TEXT,
    avatar_url TEXT,
    -- The user asked not to be found (account data io.homeserver.user_directory).
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    -- Folded words (case, accents and compatibility forms removed) joined by single spaces:
    -- an exact match of the whole localpart or display name.
    localpart_key TEXT NOT NULL,
    displayname_key TEXT,
    -- Every folded word of both, space-separated: substring matches (trigram index).
    words TEXT NOT NULL,
    -- Order within a rank: the display name's key, else the localpart's.
    sort_name TEXT COLLATE "C" NOT NULL
);
CREATE INDEX user_directory_localpart_key ON user_directory (localpart_key);
CREATE INDEX user_directory_displayname_key ON user_directory (displayname_key);
CREATE INDEX user_directory_words ON user_directory USING gin (words gin_trgm_ops);

-- Every prefix of every word start (each character of a CJK word is a word start), so a
-- prefix search reads its first results straight from the index in the order they are
-- shown, however many users match. A trigram index cannot do that, nor find the 1 and 2
-- character terms people type first, nor (with a C locale) CJK text at all.
CREATE TABLE user_directory_prefixes (
    prefix TEXT COLLATE "C" NOT NULL,
    sort_name TEXT COLLATE "C" NOT NULL,
    user_id TEXT NOT NULL REFERENCES user_directory (user_id) ON DELETE CASCADE,
    PRIMARY KEY (prefix, sort_name, user_id)
);
-- For replacing and deleting an entry's rows only; searches never read it.
CREATE INDEX user_directory_prefixes_user ON user_directory_prefixes (user_id);
