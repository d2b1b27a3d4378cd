"""The user directory (spec: client-server-api "User Directory"): finding people by part
of their username or display name.

Text is folded the same way when it is stored and when it is searched: case folded,
compatibility forms decomposed (full-width letters, ligatures), accents dropped, and the
letters whose stroke is part of the letter spelled plainly (đ, ø, ł...). So ``leon``
finds Léon, ``angstrom`` finds Ångström and ``nguyen`` finds Nguyễn. Words are runs of
letters and digits; CJK writing puts no spaces between words, so every CJK character
starts a word, and ``小明`` finds 李小明 as readily as ``李`` does.

Matches rank exact (user ID, whole localpart or display name) > every query word starting
a word > every query word anywhere (which takes a word of MIN_SUBSTRING characters); then
by shared rooms, then by name and user ID.

The hooks (``on_*``) run inside the caller's transaction, so the directory never
disagrees with the account, profile or setting it copies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from homeserver.config import SERVER_NAME
from homeserver.server import HomeServer
from homeserver.storage import account_data
from homeserver.storage import directory as store
from homeserver.storage.directory import Entry, Match, Query
from homeserver.storage.users import Profile
from homeserver.identifiers import split_user_id

# Global account data a user sets to {"searchable": false} to be found by no one else.
SETTING_TYPE = "io.homeserver.user_directory"

DEFAULT_LIMIT = 10
# Longer prefixes are not indexed: a longer query word must start a word with its first
# MAX_PREFIX characters and appear whole.
MAX_PREFIX = 12
# Inside a word, shorter fragments match nearly everyone and no index finds them fast.
MIN_SUBSTRING = 3

_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Letters with a stroke or a ligature, which Unicode does not decompose.
_PLAIN_LETTERS = str.maketrans({
    "đ": "d", "ð": "d", "ø": "o", "ł": "l", "ħ": "h", "ŧ": "t", "ı": "i", "ŋ": "n",
    "æ": "ae", "œ": "oe", "þ": "th",
})
_WORD = re.compile(r"[^\W_]+")
# Hangul jamo, CJK radicals to unified ideographs (with kana and Hangul compatibility
# jamo), Hangul syllables, compatibility ideographs, and the supplementary ideographs.
_CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3040-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\U00020000-\U0003ffff]"
)


class ProfileLookup(Protocol):
    """Fetches another server's user's profile; None when it cannot be had."""

    async def fetch_profile(self, user_id: str) -> Profile | None: ...


class NoRemoteProfiles:
    async def fetch_profile(self, user_id: str) -> Profile | None:
        # TODO(federation): GET /_matrix/federation/v1/query/profile on the user's server.
        return None


NO_REMOTE_PROFILES = NoRemoteProfiles()


@dataclass(frozen=True, slots=True)
class SearchResult:
    results: tuple[Match, ...]
    limited: bool


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = _DIACRITICS.sub("", decomposed).translate(_PLAIN_LETTERS)
    # Recompose what is left: Hangul syllables, kana with their (kept) voicing marks.
    return unicodedata.normalize("NFC", plain)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _word_starts(word: str) -> Iterator[int]:
    for i, char in enumerate(word):
        if i == 0 or _CJK.match(char) or _CJK.match(word[i - 1]):
            yield i


def word_prefixes(all_words: Iterable[str]) -> tuple[str, ...]:
    """Every prefix, up to MAX_PREFIX characters, of every word start."""
    return tuple(dict.fromkeys(
        word[start:end]
        for word in all_words
        for start in _word_starts(word)
        for end in range(start + 1, min(len(word), start + MAX_PREFIX) + 1)
    ))


def make_entry(user_id: str, localpart: str, displayname: str | None, avatar_url: str | None) -> Entry:
    localpart_words = words(localpart)
    displayname_words = words(displayname or "")
    all_words = list(dict.fromkeys(localpart_words + displayname_words))
    localpart_key = " ".join(localpart_words)
    displayname_key = " ".join(displayname_words) or None
    return Entry(
        user_id=user_id,
        displayname=displayname,
        avatar_url=avatar_url,
        localpart_key=localpart_key,
        displayname_key=displayname_key,
        words=" ".join(all_words),
        sort_name=displayname_key or localpart_key,
        prefixes=word_prefixes(all_words),
    )


def make_query(searcher: str, term: str, limit: int, search_all_users: bool) -> Query | None:
    """The search for ``term`` returning up to ``limit`` rows; None when it has no words."""
    term_words = words(term)
    if not term_words:
        return None
    unique = tuple(dict.fromkeys(term_words))
    substring_words = _substring_words(unique)
    return Query(
        searcher=searcher,
        user_id=term.strip(),
        key=" ".join(term_words),
        words=unique,
        prefixes=tuple(dict.fromkeys(word[:MAX_PREFIX] for word in unique)),
        substring_words=substring_words,
        other_prefixes=tuple(dict.fromkeys(w[:MAX_PREFIX] for w in unique if w not in substring_words)),
        search_all_users=search_all_users,
        limit=limit,
    )


def _substring_words(unique_words: tuple[str, ...]) -> tuple[str, ...]:
    # A word opening with a CJK character starts a word wherever it is found, so the
    # prefix search already finds it everywhere; a fragment of one or two letters is
    # inside nearly everyone, and no trigram finds it.
    candidates = [w for w in unique_words if len(w) >= MIN_SUBSTRING and not _CJK.match(w[0])]
    return tuple(sorted(candidates, key=len, reverse=True))


async def search(
    hs: HomeServer, searcher: str, term: str, limit: int, profiles: ProfileLookup = NO_REMOTE_PROFILES,
) -> SearchResult:
    """Up to ``limit`` (at most the configured maximum) users matching ``term``, best first."""
    limit = min(limit, hs.config.user_directory.max_limit)
    # One more than asked for tells whether the list was cut short.
    found = await _remote_user(hs, term.strip(), profiles)
    query = make_query(searcher, term, limit + 1 - len(found), hs.config.user_directory.search_all_users)
    if query is not None:
        found += await store.search(hs.db.pool, query)
    return SearchResult(tuple(found[:limit]), limited=len(found) > limit)


async def _remote_user(hs: HomeServer, term: str, profiles: ProfileLookup) -> list[Match]:
    """A full user ID on another server is found when its profile can be fetched (spec:
    the search "SHOULD query remote users")."""
    localpart, colon, server = term[1:].partition(":")
    if not (term.startswith("@") and localpart and colon and SERVER_NAME.match(server)) or hs.is_mine(term):
        return []
    profile = await profiles.fetch_profile(term)
    return [] if profile is None else [Match(term, profile.displayname, profile.avatar_url)]


async def on_user_registered(
    conn: asyncpg.Connection, user_id: str, localpart: str, displayname: str | None
) -> None:
    await _put_entry(conn, make_entry(user_id, localpart, displayname, None))


async def on_profile_changed(
    conn: asyncpg.Connection, user_id: str, displayname: str | None, avatar_url: str | None
) -> None:
    localpart, _ = split_user_id(user_id)
    await _put_entry(conn, make_entry(user_id, localpart, displayname, avatar_url))


async def on_user_deactivated(conn: asyncpg.Connection, user_id: str) -> None:
    await store.delete_entry(conn, user_id)


async def on_account_data(conn: asyncpg.Connection, user_id: str, data_type: str, content: dict[str, Any]) -> None:
    """Called for every change of global account data."""
    if data_type == SETTING_TYPE:
        await store.set_hidden(conn, user_id, _is_hidden(content))


async def _put_entry(conn: asyncpg.Connection, entry: Entry) -> None:
    setting = await account_data.get_account_data(conn, entry.user_id, account_data.GLOBAL, SETTING_TYPE)
    await store.put_entry(conn, entry, hidden=_is_hidden(setting))


def _is_hidden(setting: dict[str, Any] | None) -> bool:
    return setting is not None and setting.get("searchable") is False
