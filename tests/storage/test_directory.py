"""The user directory's keys (pure) and its storage against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from homeserver.storage import directory as store
from homeserver.storage import users as user_store
from homeserver.storage.directory import Query
from homeserver.users.directory import MAX_PREFIX, fold, make_entry, make_query, word_prefixes, words


@pytest.mark.parametrize(("text", "folded"), [
    ("Léon", "leon"), ("Ångström", "angstrom"), ("Nguyễn Văn An", "nguyen van an"), ("Đặng Thị Hà", "dang thi ha"),
    ("Straße", "strasse"), ("Łódź", "lodz"), ("Søren", "soren"), ("Æsir Œuvre", "aesir oeuvre"), ("İstanbul", "istanbul"),
    ("ＡＢＣ１", "abc1"), ("ﬁsh", "fish"), ("李小明", "李小明"), ("김민준", "김민준"),
    # Kana keep their voicing marks: が is not か.
    ("がくせい", "がくせい"), ("ｶﾞｸｾｲ", "ガクセイ"),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_words_are_runs_of_letters_and_digits() -> None:
    assert words("  Anne-Marie O'Neil_42 (B.Sc.)") == ["anne", "marie", "o", "neil", "42", "b", "sc"]
    assert words("!?% _") == []


def test_every_cjk_character_starts_a_word() -> None:
    assert set(word_prefixes(["李小明"])) == {"李", "李小", "李小明", "小", "小明", "明"}
    assert set(word_prefixes(["ab李c"])) == {"a", "ab", "ab李", "ab李c", "李", "李c", "c"}
    assert set(word_prefixes(["anna"])) == {"a", "an", "ann", "anna"}


def test_prefixes_stop_at_max_prefix() -> None:
    long_word = "a" * (MAX_PREFIX + 5)
    assert max(map(len, word_prefixes([long_word]))) == MAX_PREFIX


def test_entry_keys() -> None:
    entry = make_entry("@anne.marie:x", "anne.marie", "Anne-Marie Ødegaard", None)
    assert (entry.localpart_key, entry.displayname_key, entry.words, entry.sort_name) == (
        "anne marie", "anne marie odegaard", "anne marie odegaard", "anne marie odegaard",
    )
    nameless = make_entry("@bob:x", "bob", None, None)
    assert (nameless.displayname_key, nameless.sort_name) == (None, "bob")
    # A display name without letters sorts by the localpart.
    assert make_entry("@c:x", "c", "🙂", None).sort_name == "c"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def add(conn: asyncpg.Connection, localpart: str, displayname: str | None = None, hidden: bool = False) -> str:
    user_id = f"@{localpart}:x"
    await user_store.insert_user(conn, user_id, localpart, None, 1)
    await store.put_entry(conn, make_entry(user_id, localpart, displayname, None), hidden)
    return user_id


def query(term: str, searcher: str = "@searcher:x", limit: int = 10, search_all_users: bool = True) -> Query:
    built = make_query(searcher, term, limit, search_all_users)
    assert built is not None
    return built


async def found(conn: asyncpg.Connection, q: Query) -> list[str]:
    return [m.user_id for m in await store.search(conn, q)]


async def prefix_rows(conn: asyncpg.Connection, user_id: str) -> set[str]:
    rows = await conn.fetch("SELECT prefix FROM user_directory_prefixes WHERE user_id = $1", user_id)
    return {r["prefix"] for r in rows}


async def test_put_entry_replaces_every_prefix_row(conn: asyncpg.Connection) -> None:
    alice = await add(conn, "alice", "Wonderland")
    assert "won" in await prefix_rows(conn, alice)
    await store.put_entry(conn, make_entry(alice, "alice", "Looking Glass", None), False)
    assert await prefix_rows(conn, alice) == set(word_prefixes(["alice", "looking", "glass"]))
    assert await found(conn, query("won")) == []
    assert await found(conn, query("glass")) == [alice]


async def test_delete_entry_leaves_nothing_behind(conn: asyncpg.Connection) -> None:
    bob = await add(conn, "bob", "Bob Builder")
    await store.delete_entry(conn, bob)
    assert await prefix_rows(conn, bob) == set()
    assert await conn.fetchval("SELECT count(*) FROM user_directory") == 0
    await store.delete_entry(conn, bob)  # deleting twice is harmless


async def test_a_deactivated_user_gets_no_entry(conn: asyncpg.Connection) -> None:
    await user_store.insert_user(conn, "@gone:x", "gone", None, 1)
    await user_store.mark_deactivated(conn, "@gone:x")
    await store.put_entry(conn, make_entry("@gone:x", "gone", "Gone", None), False)
    assert await prefix_rows(conn, "@gone:x") == set()
    assert await found(conn, query("gone")) == []


async def test_every_query_word_must_match(conn: asyncpg.Connection) -> None:
    an = await add(conn, "an", "Nguyễn Văn An")
    binh = await add(conn, "binh", "Nguyễn Thị Bình")
    assert await found(conn, query("nguyen")) == [binh, an]   # "nguyen thi binh" < "nguyen van an"
    assert await found(conn, query("nguyen an")) == [an]
    assert await found(conn, query("an nguyen")) == [an]       # in any order
    assert await found(conn, query("nguyen zz")) == []
    assert await found(conn, query("guy bin")) == [binh]       # substrings, with one word of three letters
    # Every word must start a word for a prefix match: "uy" only does so for Uyên.
    uyen = await add(conn, "uyen", "Nguyễn Uyên")
    tuan = await add(conn, "tuan", "Nguyễn Anh Tuấn")
    assert await found(conn, query("nguyen uy")) == [uyen]
    # A word of one or two letters is inside nearly every name (here, every "nguyen"):
    # among substring matches too it must start a word, while longer ones may be inside.
    assert await found(conn, query("uye an")) == [tuan, an]  # "nguyen anh tuan" < "nguyen van an"


async def test_words_longer_than_the_indexed_prefix(conn: asyncpg.Connection) -> None:
    longer = await add(conn, "longer", "Wolfeschlegelsteinhausen")
    shorter = await add(conn, "shorter", "Wolfeschlegelsteinhaus")
    assert await found(conn, query("wolfeschlegelsteinhausen")) == [longer]
    assert await found(conn, query("wolfeschlegelst")) == [shorter, longer]
    assert await found(conn, query("wolfeschlegelsteinhaus")) == [shorter, longer]  # exact first
    assert await found(conn, query("wolfeschlegelstein" + "x")) == []


async def test_exact_matches_come_first_however_many_prefix_matches(conn: asyncpg.Connection) -> None:
    for i in range(12):
        await add(conn, f"sam{i:02}", "Sam Aardvark")  # sorts before "sam"
    sam = await add(conn, "zz", "Sam")
    assert (await found(conn, query("sam", limit=3)))[0] == sam


async def test_hidden_users_are_found_by_themselves_only(conn: asyncpg.Connection) -> None:
    hidden = await add(conn, "hidden", "Hidden", hidden=True)
    assert await found(conn, query("hidden")) == []
    assert await found(conn, query("hid")) == []
    assert await found(conn, query("hidden", searcher=hidden)) == [hidden]
    await store.set_hidden(conn, hidden, False)
    assert await found(conn, query("hidden")) == [hidden]


async def test_search_all_users_false_leaves_the_searcher_alone(conn: asyncpg.Connection) -> None:
    me = await add(conn, "gina")
    await add(conn, "gideon")
    assert await found(conn, query("gi", searcher=me, search_all_users=False)) == [me]
    assert await found(conn, query("gi", searcher=me, search_all_users=True)) == ["@gideon:x", me]


async def test_substring_matches_follow_prefix_matches_without_repeats(conn: asyncpg.Connection) -> None:
    rosa = await add(conn, "rosa", "Rosa Primrose")   # both a prefix and a substring match
    ambrose = await add(conn, "ambrose")
    assert await found(conn, query("ros")) == [rosa, ambrose]
    assert await found(conn, query("ros", limit=1)) == [rosa]
