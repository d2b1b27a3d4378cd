"""The full-text index of room events (``event_search``) and the queries over it.

Text is indexed with PostgreSQL's 'simple' configuration: words are split by the default
parser and case-folded, never stemmed, so text in any language is found by its words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

BODY, NAME, TOPIC = "content.body", "content.name", "content.topic"
KEYS = (BODY, NAME, TOPIC)

# Addresses, host names, paths, URLs and hyphenated words are single tokens to
# PostgreSQL's parser ("alice@example.com", "matrix.org/docs"): their words are indexed
# too, and a search term's such tokens are searched by their words, so "example.com"
# finds "alice@example.com" and "client-serv" finds "client-server-api".
# A run of word characters and joiners holding two words or more is such a token. Both
# patterns are single character classes, so matching is linear in the text: a pattern
# that backtracks (\w+(?:[-.]+\w+)+) took 85 s over one 64,000-letter word.
_JOINERS = re.compile(r"[-@./:~+?=&%#]")
_RUN = re.compile(r"[\w\-@./:~+?=&%#]+")
_WORD = re.compile(r"\w+")


def searchable_text(pdu: dict[str, Any]) -> tuple[str, str] | None:
    """(key, text) of an event the search covers, or None (spec: "room_events")."""
    content = pdu.get("content")
    if not isinstance(content, dict):
        return None
    event_type, is_state = pdu.get("type"), "state_key" in pdu
    if event_type == "m.room.message" and not is_state:
        key, parts = BODY, [content.get("body")]
    elif event_type == "m.room.name" and pdu.get("state_key") == "":
        key, parts = NAME, [content.get("name")]
    elif event_type == "m.room.topic" and pdu.get("state_key") == "":
        key, parts = TOPIC, [content.get("topic"), *_plain_topics(content.get("m.topic"))]
    else:
        return None
    text = " ".join(p for p in parts if isinstance(p, str) and p)
    if not text:
        return None
    # PostgreSQL text holds neither NUL nor lone surrogates; both can arrive in JSON.
    return key, _with_parts(text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8"))


def _with_parts(text: str) -> str:
    """The text, then the words of its compound tokens (people search for "example" and
    "docs" in "alice@example.com" and "matrix.org/docs")."""
    parts = []
    for run in _RUN.findall(text):
        if _JOINERS.search(run):
            words = _WORD.findall(run)
            if len(words) > 1:
                parts += words
    return f"{text} {' '.join(parts)}" if parts else text


def _plain_topics(m_topic: Any) -> list[Any]:
    """The text/plain bodies of an ``m.topic`` content block (mimetype defaults to text/plain)."""
    blocks = m_topic.get("m.text") if isinstance(m_topic, dict) else None
    if not isinstance(blocks, list):
        return []
    return [b.get("body") for b in blocks if isinstance(b, dict) and b.get("mimetype", "text/plain") == "text/plain"]


async def query_words(conn: Conn, search_term: str) -> list[str]:
    """The search term's distinct words as the index holds them (parsed and case-folded
    the same way), ordered by where each last appears; a compound token gives its words."""
    rows = await conn.fetch(
        "SELECT lexeme FROM unnest(to_tsvector('simple', $1)) ORDER BY positions[array_upper(positions, 1)]",
        search_term.replace("\x00", " "),
    )
    words: dict[str, None] = {}
    for lexeme in (r["lexeme"] for r in rows):
        for word in _WORD.findall(lexeme) if _JOINERS.search(lexeme) else [lexeme]:
            words.pop(word, None)  # keep the order of last appearance
            words[word] = None
    return list(words)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    tsquery: str
    room_ids: Sequence[str]
    keys: Sequence[str]
    order_by_rank: bool
    # LIKE patterns (rooms/filters.py type_patterns) and sender lists; None: no constraint.
    types: Sequence[str] | None = None
    not_types: Sequence[str] | None = None
    senders: Sequence[str] | None = None
    not_senders: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    event_id: str
    rank: float
    stream_ordering: int


# Matching, served events; $1 tsquery, $2 rooms, $3 keys, $4-$7 type and sender filters.
_MATCHES = """
SELECT s.event_id, e.stream_ordering, ts_rank_cd(s.vector, $1::tsquery) AS rank
FROM event_search s JOIN events e ON e.event_id = s.event_id
WHERE s.vector @@ $1::tsquery AND s.room_id = ANY($2::text[]) AND s.key = ANY($3::text[])
  AND e.redacted_by IS NULL AND e.rejected_reason IS NULL AND NOT e.soft_failed
  AND ($4::text[] IS NULL OR e.type LIKE ANY($4)) AND ($5::text[] IS NULL OR NOT e.type LIKE ANY($5))
  AND ($6::text[] IS NULL OR e.sender = ANY($6)) AND ($7::text[] IS NULL OR e.sender <> ALL($7))
"""


def _args(q: SearchQuery) -> list[Any]:
    def opt(v: Sequence[str] | None) -> list[str] | None:
        return list(v) if v is not None else None

    return [q.tsquery, list(q.room_ids), list(q.keys), opt(q.types), opt(q.not_types), opt(q.senders),
            opt(q.not_senders)]


async def search(conn: Conn, q: SearchQuery, *, after: tuple[float, int] | None, limit: int) -> list[Hit]:
    """Up to ``limit`` hits past the ``after`` cursor (rank, stream ordering), best first:
    by rank then stream ordering descending, or (not by rank) by stream ordering
    descending, the cursor's rank then unused."""
    args = [*_args(q), limit]
    cursor = "TRUE"
    if after is not None and q.order_by_rank:
        cursor = "(rank, stream_ordering) < ($9::real, $10::bigint)"
        args += [after[0], after[1]]
    elif after is not None:
        cursor = "stream_ordering < $9::bigint"
        args.append(after[1])
    order = "rank DESC, stream_ordering DESC" if q.order_by_rank else "stream_ordering DESC"
    rows = await conn.fetch(
        f"SELECT event_id, rank, stream_ordering FROM ({_MATCHES}) hits WHERE {cursor} ORDER BY {order} LIMIT $8",
        *args,
    )
    return [Hit(r["event_id"], r["rank"], r["stream_ordering"]) for r in rows]


async def count(conn: Conn, q: SearchQuery) -> int:
    return await conn.fetchval(f"SELECT count(*) FROM ({_MATCHES}) hits", *_args(q))
