"""The user directory: one entry per findable local user, and the ranked search over it.

A search reads the best ranks first and stops once it has enough. Exact and word-prefix
matches come in one statement, straight from indexes in the order they are shown;
substring matches need a trigram index scan and a sort, so they are only searched when
the better ranks leave room on the page.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class Entry:
    """What the directory keeps for one user (built by ``homeserver.users.directory``)."""

    user_id: str
    displayname: str | None
    avatar_url: str | None
    localpart_key: str
    displayname_key: str | None
    words: str
    sort_name: str
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """A search, already folded and split into words by ``homeserver.users.directory``."""

    searcher: str
    # The raw search term, matched exactly against user IDs.
    user_id: str
    # The folded words joined by spaces, matched against a whole localpart or display name.
    key: str
    # Folded words: letters and digits only, so never a LIKE wildcard. Each must be found.
    words: tuple[str, ...]
    # Each word cut to the longest indexed prefix; for a prefix match all must start words.
    prefixes: tuple[str, ...]
    # The word that drives a substring search, or None when that search could find
    # nothing the prefix search did not.
    substring_word: str | None
    # False: the spec's rule, only users who share a room with the searcher or are in a
    # public room.
    search_all_users: bool
    limit: int


@dataclass(frozen=True, slots=True)
class Match:
    user_id: str
    displayname: str | None
    avatar_url: str | None


async def put_entry(conn: Conn, entry: Entry, hidden: bool) -> None:
    """Add or replace the user's entry, unless the account is deactivated."""
    await delete_entry(conn, entry.user_id)
    await conn.execute(
        "WITH entry AS ("
        " INSERT INTO user_directory (user_id, displayname, avatar_url, hidden, localpart_key,"
        "  displayname_key, words, sort_name, prefixes)"
        " SELECT user_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM users WHERE user_id = $1 AND NOT deactivated"
        " RETURNING user_id, sort_name, prefixes)"
        " INSERT INTO user_directory_prefixes (prefix, sort_name, user_id)"
        " SELECT unnest(prefixes), sort_name, user_id FROM entry",
        entry.user_id, entry.displayname, entry.avatar_url, hidden, entry.localpart_key,
        entry.displayname_key, entry.words, entry.sort_name, list(entry.prefixes),
    )


async def delete_entry(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "WITH old AS (DELETE FROM user_directory WHERE user_id = $1 RETURNING user_id, sort_name, prefixes)"
        " DELETE FROM user_directory_prefixes p USING old"
        " WHERE p.prefix = ANY (old.prefixes) AND p.sort_name = old.sort_name AND p.user_id = old.user_id",
        user_id,
    )


async def set_hidden(conn: Conn, user_id: str, hidden: bool) -> None:
    await conn.execute("UPDATE user_directory SET hidden = $2 WHERE user_id = $1", user_id, hidden)


# Common parameters: $1 the searcher, $2 search_all_users, $3 how many rows to return.

# Whether the searcher already shares a room with the match: ranked above the name order
# within each rank. 0 for now.
# TODO(rooms): EXISTS (a room where room_memberships has both $1 and d.user_id joined).
# Ordering by it defeats the index order of the prefix search: fetch the searcher's
# room-mates as a branch of their own (they are few) and put them first instead.
_SHARES_ROOM = "0"

# Who the searcher may find. Hidden users are found by themselves only.
_VISIBLE = (
    "(NOT d.hidden OR d.user_id = $1)"
    # search_all_users = false, the spec's rule: users who share a room with the searcher
    # or are joined to a public (join rule) or world-readable room.
    # TODO(rooms): OR d.user_id IN (those, from room_memberships and current_state).
    # Until then that is the searcher alone.
    " AND ($2 OR d.user_id = $1)"
)

_EXACT_AND_PREFIX = f"""
WITH exact AS (
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {_SHARES_ROOM} AS shares_room
    FROM user_directory d
    WHERE (d.user_id = $4 OR d.localpart_key = $5 OR d.displayname_key = $5) AND {_VISIBLE}
    ORDER BY shares_room DESC, d.sort_name, d.user_id
    LIMIT $3
), prefix AS (
    -- Walks the index on (prefix, sort_name, user_id) in order; stops after $3 matches.
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {_SHARES_ROOM} AS shares_room
    FROM user_directory_prefixes p JOIN user_directory d USING (user_id)
    WHERE p.prefix = $6
      AND (SELECT count(*) FROM user_directory_prefixes q
           WHERE q.prefix = ANY ($7) AND q.sort_name = p.sort_name AND q.user_id = p.user_id)
          = cardinality($7)
      AND d.words LIKE ALL ($8)
      AND {_VISIBLE}
      AND d.user_id NOT IN (SELECT user_id FROM exact)
    ORDER BY shares_room DESC, p.sort_name, p.user_id
    LIMIT $3
)
SELECT user_id, displayname, avatar_url
FROM (SELECT *, 1 AS rank FROM exact UNION ALL SELECT *, 2 AS rank FROM prefix) AS matches
ORDER BY rank, shares_room DESC, sort_name, user_id
LIMIT $3
"""

_SUBSTRING = f"""
SELECT d.user_id, d.displayname, d.avatar_url, {_SHARES_ROOM} AS shares_room
FROM user_directory d
WHERE d.words LIKE $4 AND d.words LIKE ALL ($5) AND {_VISIBLE} AND d.user_id <> ALL ($6)
ORDER BY shares_room DESC, d.sort_name, d.user_id
LIMIT $3
"""


async def search(conn: Conn, query: Query) -> list[Match]:
    """Up to ``query.limit`` matches, best first: exact (user ID, whole localpart or display
    name), then every word starting a word, then every word anywhere."""
    patterns = [f"%{word}%" for word in query.words]
    driver = max(query.prefixes, key=len)  # the longest is likely the rarest
    rows = await conn.fetch(
        _EXACT_AND_PREFIX, query.searcher, query.search_all_users, query.limit,
        query.user_id, query.key, driver, list(query.prefixes), patterns,
    )
    if len(rows) < query.limit and query.substring_word is not None:
        # A short page holds every exact and prefix match there is: exclude exactly those.
        rows += await conn.fetch(
            _SUBSTRING, query.searcher, query.search_all_users, query.limit - len(rows),
            f"%{query.substring_word}%", patterns, [r["user_id"] for r in rows],
        )
    return [Match(r["user_id"], r["displayname"], r["avatar_url"]) for r in rows]
