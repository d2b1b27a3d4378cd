"""The user directory: one entry per findable local user, and the ranked search over it.

A search reads the best ranks first and stops once it has enough: exact and word-prefix
matches come straight from indexes in the order they are shown; substring matches need a
trigram index scan and a sort, so they are only searched when the better ranks leave
room on the page. One statement, one round trip.
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
        "  displayname_key, words, sort_name)"
        " SELECT user_id, $2, $3, $4, $5, $6, $7, $8 FROM users WHERE user_id = $1 AND NOT deactivated"
        " RETURNING user_id, sort_name)"
        " INSERT INTO user_directory_prefixes (prefix, sort_name, user_id)"
        " SELECT unnest($9::text[]), sort_name, user_id FROM entry",
        entry.user_id, entry.displayname, entry.avatar_url, hidden, entry.localpart_key,
        entry.displayname_key, entry.words, entry.sort_name, list(entry.prefixes),
    )


async def delete_entry(conn: Conn, user_id: str) -> None:
    """Its prefix rows go with it (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM user_directory WHERE user_id = $1", user_id)


async def set_hidden(conn: Conn, user_id: str, hidden: bool) -> None:
    await conn.execute("UPDATE user_directory SET hidden = $2 WHERE user_id = $1", user_id, hidden)


# Whether the searcher already shares a room with the match: ranked above the name order
# within each rank. Ordering by it would defeat the index order of the prefix search, so
# the searcher's room-mates (the ``mates`` CTE) are also searched as a branch of their own.
_SHARES_ROOM = "(d.user_id IN (SELECT user_id FROM mates))"

# Who the searcher ($1) may find. Hidden users are found by themselves only. With
# search_all_users false, the spec's rule: users who share a room with the searcher or
# are joined to a room published in the public room list.
_VISIBLE = (
    "(NOT d.hidden OR d.user_id = $1)"
    " AND ($2 OR d.user_id = $1 OR d.user_id IN (SELECT user_id FROM mates)"
    "      OR d.user_id IN (SELECT m.user_id FROM room_memberships m JOIN rooms r USING (room_id)"
    "                       WHERE r.is_public AND m.membership = 'join'))"
)

# The searcher's room-mates: everyone joined to a room the searcher is joined to.
_MATES = """
mates AS MATERIALIZED (
    SELECT DISTINCT b.user_id FROM room_memberships a
    JOIN room_memberships b ON b.room_id = a.room_id AND b.membership = 'join' AND b.user_id <> a.user_id
    WHERE a.user_id = $1 AND a.membership = 'join'
)"""

# A prefix match (p: a user_directory_prefixes row for $6, d: its entry): every query
# word starts a word of the match (one index probe per word), and it is not exact.
_PREFIX_MATCH = """
    (SELECT count(*) FROM user_directory_prefixes q
     WHERE q.prefix = ANY ($7) AND q.sort_name = p.sort_name AND q.user_id = p.user_id) = cardinality($7)
    AND d.words LIKE ALL ($8)
    AND {visible}
    AND d.user_id NOT IN (SELECT user_id FROM exact)
""".format(visible=_VISIBLE)

# $1 the searcher, $2 search_all_users, $3 how many rows to return, $4 the raw term,
# $5 the folded key, $6 the prefix that drives the prefix search, $7 every query word's
# prefix, $8 a LIKE pattern per query word, $9 the pattern that drives the substring
# search (NULL: skip it).
_SEARCH = f"""
WITH {_MATES}, exact AS (
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {_SHARES_ROOM} AS shares_room
    FROM user_directory d
    WHERE (d.user_id = $4 OR d.localpart_key = $5 OR d.displayname_key = $5) AND {_VISIBLE}
    ORDER BY shares_room DESC, d.sort_name, d.user_id
    LIMIT $3
), prefix_walk AS (
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {_SHARES_ROOM} AS shares_room
    FROM (
        -- Down the index on (prefix, sort_name, user_id), in display order, stopping
        -- after $3 matches. OFFSET 0 keeps the planner to that: a cached generic plan
        -- cannot see how common $6 is and otherwise prefers scanning user_directory
        -- (150 ms at 10,000 users). PostgreSQL mostly plans afresh anyway (~0.5 ms).
        SELECT p.sort_name, p.user_id FROM user_directory_prefixes p
        WHERE p.prefix = $6 ORDER BY p.sort_name, p.user_id OFFSET 0
    ) AS p
    JOIN user_directory d USING (user_id)
    WHERE {_PREFIX_MATCH}
    ORDER BY p.sort_name, p.user_id
    LIMIT $3
), prefix_mates AS (
    -- Room-mates matching the prefix, wherever they fall in the name order (they are few).
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, TRUE AS shares_room
    FROM mates JOIN user_directory_prefixes p USING (user_id)
    JOIN user_directory d USING (user_id)
    WHERE p.prefix = $6 AND {_PREFIX_MATCH}
    ORDER BY p.sort_name, p.user_id
    LIMIT $3
), prefix AS (
    SELECT * FROM prefix_walk UNION SELECT * FROM prefix_mates
    ORDER BY shares_room DESC, sort_name, user_id
    LIMIT $3
), best AS (
    SELECT *, 1 AS rank FROM exact UNION ALL SELECT *, 2 AS rank FROM prefix
    ORDER BY rank, shares_room DESC, sort_name, user_id
    LIMIT $3
), substring AS (
    -- Only when the better ranks leave room (a one-time filter: otherwise never run).
    -- A short page holds every exact and prefix match there is: exclude exactly those.
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {_SHARES_ROOM} AS shares_room
    FROM user_directory d
    WHERE (SELECT count(*) FROM best) < $3
      AND d.words LIKE $9 AND d.words LIKE ALL ($8) AND {_VISIBLE}
      AND d.user_id NOT IN (SELECT user_id FROM best)
    ORDER BY shares_room DESC, d.sort_name, d.user_id
    LIMIT $3
)
SELECT user_id, displayname, avatar_url
FROM (SELECT * FROM best UNION ALL SELECT *, 3 AS rank FROM substring) AS matches
ORDER BY rank, shares_room DESC, sort_name, user_id
LIMIT $3
"""


async def search(conn: Conn, query: Query) -> list[Match]:
    """Up to ``query.limit`` matches, best first: exact (user ID, whole localpart or display
    name), then every word starting a word, then every word anywhere."""
    substring = None if query.substring_word is None else f"%{query.substring_word}%"
    rows = await conn.fetch(
        _SEARCH, query.searcher, query.search_all_users, query.limit, query.user_id, query.key,
        max(query.prefixes, key=len),  # the longest is likely the rarest
        list(query.prefixes), [f"%{word}%" for word in query.words], substring,
    )
    return [Match(r["user_id"], r["displayname"], r["avatar_url"]) for r in rows]
