"""The user directory: one entry per findable local user, and the ranked search over it.

A search reads the best ranks first and stops once it has enough: exact matches from
indexes; word-prefix matches of one word, or of several common ones, from the prefix
index in the order they are shown; of several words one of which is rare, by
intersecting their entries (GIN) and sorting the few that are left. Substring matches
need trigram index scans and a sort, so they are only searched when the better ranks
leave room on the page. One statement, one round trip.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
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
    # The words a substring search looks up in the trigram index, longest first; none
    # when that search could find nothing the prefix search did not.
    substring_words: tuple[str, ...]
    # The prefixes of the other words (too short, or opening with a CJK character): in a
    # substring match they must still start a word.
    other_prefixes: tuple[str, ...]
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

# A prefix or substring match (d: an entry): every query word starts a word ($6 holds
# their prefixes) or appears ($7), visible, and not already an exact match.
_MATCHES = """
    d.prefixes @> $6 AND d.words LIKE ALL ($7) AND {visible}
    AND d.user_id NOT IN (SELECT user_id FROM exact)
""".format(visible=_VISIBLE)

# One query word: its prefix's entries, read down the index on (prefix, sort_name,
# user_id) in display order until the page is full, however common it is. OFFSET 0
# keeps the planner to that: a generic plan cannot see how common $6 is and otherwise
# prefers scanning user_directory (150 ms at 10,000 users). A word longer than the
# indexed prefix must still appear whole (LIKE).
_ONE_WORD = """
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {shares_room} AS shares_room
    FROM (
        SELECT p.sort_name, p.user_id FROM user_directory_prefixes p
        WHERE p.prefix = ($6::text[])[1] ORDER BY p.sort_name, p.user_id OFFSET 0
    ) AS p
    -- Each entry by its key as the walk reaches it; OFFSET 0 keeps the planner from
    -- looking them all up another way first (the GIN index for "nguyen", then sorting
    -- every match: 23 ms at 100,000 users).
    CROSS JOIN LATERAL (SELECT * FROM user_directory e WHERE e.user_id = p.user_id OFFSET 0) AS d
    WHERE d.words LIKE ALL ($7) AND {visible} AND d.user_id NOT IN (SELECT user_id FROM exact)
    ORDER BY p.sort_name, p.user_id
    LIMIT $3
"""

# Matches found through a GIN index come in no useful order, so they are sorted; past
# this many, the page is the best-named among the first this many found, which keeps a
# search of very common fragments ("t n", "guye" in 9,800 Nguyễns) to about a millisecond.
CANDIDATES = 300

# Several words (a whole name): the GIN index on user_directory.prefixes intersects their
# entries, and what is left is sorted. A walk down the most common word's entries in
# display order read 9,000 of them for "Nguyễn Xu" at 100,000 users.
_SEVERAL_WORDS = """
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {shares_room} AS shares_room
    FROM (SELECT * FROM user_directory d WHERE {matches} LIMIT {candidates}) AS d
    ORDER BY shares_room DESC, d.sort_name, d.user_id
    LIMIT $3
"""

# $1 the searcher, $2 search_all_users, $3 how many rows to return, $4 the raw term,
# $5 the folded key, $6 every query word's prefix, $7 a LIKE pattern per query word,
# $8 the words too short for a substring match, which must start a word there, then one
# LIKE pattern per substring word (see _statement).
_SEARCH = """
WITH {mates}, exact AS (
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {shares_room} AS shares_room
    FROM user_directory d
    WHERE (d.user_id = $4 OR d.localpart_key = $5 OR d.displayname_key = $5) AND {visible}
    ORDER BY shares_room DESC, d.sort_name, d.user_id
    LIMIT $3
), prefix_found AS ({prefix}
), prefix_mates AS (
    -- Room-mates matching, wherever they fall in the name order (they are few).
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, TRUE AS shares_room
    FROM mates JOIN user_directory d USING (user_id)
    WHERE {matches}
    ORDER BY d.sort_name, d.user_id
    LIMIT $3
), prefix AS (
    SELECT * FROM prefix_found UNION SELECT * FROM prefix_mates
    ORDER BY shares_room DESC, sort_name, user_id
    LIMIT $3
), best AS (
    SELECT *, 1 AS rank FROM exact UNION ALL SELECT *, 2 AS rank FROM prefix
    ORDER BY rank, shares_room DESC, sort_name, user_id
    LIMIT $3
), substring_found AS (
    -- Only when the better ranks leave room (a one-time filter: otherwise never run).
    -- A short page holds every exact and prefix match there is: exclude exactly those.
    SELECT * FROM user_directory d
    WHERE {substring} AND (SELECT count(*) FROM best) < $3
      AND d.words LIKE ALL ($7) AND {visible} AND d.user_id NOT IN (SELECT user_id FROM best)
    LIMIT {candidates}
), substring AS (
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, {shares_room} AS shares_room
    FROM substring_found d
    UNION
    SELECT d.user_id, d.displayname, d.avatar_url, d.sort_name, TRUE AS shares_room
    FROM mates JOIN user_directory d USING (user_id)
    WHERE {substring} AND (SELECT count(*) FROM best) < $3
      AND d.words LIKE ALL ($7) AND d.user_id NOT IN (SELECT user_id FROM best)
    ORDER BY shares_room DESC, sort_name, user_id
    LIMIT $3
)
SELECT user_id, displayname, avatar_url
FROM (SELECT * FROM best UNION ALL SELECT *, 3 AS rank FROM substring) AS matches
ORDER BY rank, shares_room DESC, sort_name, user_id
LIMIT $3
"""

# Substring words looked up in the trigram index, each its own LIKE so that the index
# intersects them (and the other words' prefixes, through the GIN index on prefixes);
# further words are still checked (LIKE ALL) on what they return.
MAX_SUBSTRING_WORDS = 3


def _statement(several_words: bool, substring_words: int, other_words: bool) -> str:
    prefix = (_SEVERAL_WORDS if several_words else _ONE_WORD).format(
        shares_room=_SHARES_ROOM, matches=_MATCHES, visible=_VISIBLE, candidates=CANDIDATES)
    substring = [f"d.words LIKE ${9 + i}" for i in range(substring_words)] or ["FALSE"]
    # An empty array would match every entry through the index: then $8 is only typed.
    substring.append("d.prefixes @> $8" if other_words else "cardinality($8::text[]) = 0")
    return _SEARCH.format(mates=_MATES, shares_room=_SHARES_ROOM, visible=_VISIBLE, matches=_MATCHES,
                          prefix=prefix, substring=" AND ".join(substring), candidates=CANDIDATES)


# By (several words, number of substring words, other words); with no substring word,
# that rank is not searched.
_SEARCHES = {
    (several, count, other): _statement(several, count, other)
    for several in (False, True) for count in range(MAX_SUBSTRING_WORDS + 1) for other in (False, True)
}


async def search(conn: Conn, query: Query) -> list[Match]:
    """Up to ``query.limit`` matches, best first: exact (user ID, whole localpart or display
    name), then every word starting a word, then every word anywhere.

    The statement runs with its generic plan: planning it afresh for each search's values
    took 1-3 ms, longer than running it (0.2-1 ms at 100,000 users), and every branch is
    written so that one plan serves every term (the walks fenced with OFFSET 0, GIN
    results capped). No parallel workers either: starting them costs more than they save.
    """
    substrings = [f"%{word}%" for word in query.substring_words[:MAX_SUBSTRING_WORDS]]
    statement = _SEARCHES[len(query.prefixes) > 1, len(substrings), bool(query.other_prefixes)]
    args = (query.searcher, query.search_all_users, query.limit, query.user_id, query.key, list(query.prefixes),
            [f"%{word}%" for word in query.words], list(query.other_prefixes), *substrings)
    async with _connection(conn) as c:
        if c.is_in_transaction():  # the caller's: its settings are not ours to change
            rows = await c.fetch(statement, *args)
        else:
            await c.execute(_PLAN_ONCE)
            try:
                rows = await c.fetch(statement, *args)
            finally:
                await c.execute("COMMIT")
    return [Match(r["user_id"], r["displayname"], r["avatar_url"]) for r in rows]


# One round trip: the settings last until the transaction ends.
_PLAN_ONCE = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL max_parallel_workers_per_gather = 0"


@contextlib.asynccontextmanager
async def _connection(conn: Conn) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            yield acquired
    else:
        yield conn
