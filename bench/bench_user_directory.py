"""User directory search latency, and login latency, over HTTP against a real server process.

    python bench/bench_user_directory.py [--database-url URL] [--sizes 10000,100000] [--queries 3000]

Seeds users straight into the database (COPY), with display names mixing accented Latin,
Vietnamese, Chinese, Japanese and Korean names, then sends searches one after another: the
2 to 6 character prefixes and substrings of real names people type, then whole usernames
and display names (and each less its last character, and a first name with the start of
the next). Reports p50 and p99 of each shape at each size. Then logs in with m.login.password, hashed with the production argon2id
settings, and reports that too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import Server, percentile, running_server, summary  # noqa: E402
from homeserver.config import PasswordHashConfig  # noqa: E402
from homeserver.users.directory import fold, make_entry  # noqa: E402
from homeserver.users.passwords import PasswordHasher  # noqa: E402

SERVER_NAME = "bench.local"
PASSWORD = "benchmark password"

LATIN_FIRST = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Susan Richard "
    "Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Emily Olivia Noah Liam Emma "
    "Sophia Lucas Mia Léon Zoé Chloé Hélène Amélie Françoise Jérôme Benoît Loïc Anaïs Sébastien Cécile "
    "Raphaël Noémie José María Lucía Sofía Martín Andrés Ramón Inés Jesús Iñaki Jürgen Jörg Günter "
    "Björn Sören Ágnes Zoltán Gábor Søren Jørgen Åsa Märta Åke Ingrid Øystein Łukasz Paweł Małgorzata "
    "Wojciech João Gonçalo Çağla Şule Gökhan Ömer Ayşe Ştefan Ioana Tomáš Jiří Zdeněk"
).split()
LATIN_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson "
    "Anderson Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young "
    "King Wright Scott Lefèvre Dubois Moreau Girard Rousseau Mercier Fauré Ångström Müller Schröder "
    "Weiß Köhler Jiménez Muñoz Núñez Peña Ibáñez Gómez Pérez Sánchez Fernández González Kowalski "
    "Wiśniewski Wójcik Kamiński Dąbrowski Łukaszewicz Sørensen Ødegaard Lindström Nyström Håkansson "
    "Hämäläinen Virtanen Nagy Szabó Tóth Kovács Yılmaz Öztürk Çelik Doğan Şahin Novák Dvořák Černý "
    "Silva Gonçalves Ivanov Popescu"
).split()
# Family names at roughly their real frequency: Nguyễn is about four in ten.
VIETNAMESE_FAMILY = (
    ["Nguyễn"] * 38 + ["Trần"] * 11 + ["Lê"] * 10 + ["Phạm"] * 7 + ["Hoàng"] * 5 + ["Huỳnh"] * 5
    + ["Phan"] * 4 + ["Vũ"] * 4 + "Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Trịnh Mai Cao Lương".split()
)
VIETNAMESE_MIDDLE = "Văn Thị Hữu Đức Minh Ngọc Thanh Quang Xuân Hoài Gia Bảo Thu Kim Công".split()
VIETNAMESE_GIVEN = (
    "An Anh Bảo Bình Châu Chi Cường Dũng Duy Giang Hà Hải Hạnh Hiếu Hoa Hùng Hương Huy Khánh Lan Linh "
    "Long Mai Minh My Nam Nga Ngọc Nhung Phong Phúc Phương Quân Quang Sơn Tâm Thảo Thắng Thành Thủy "
    "Trang Trung Tuấn Tùng Uyên Vân Việt Yến Đạt Đông Hằng Loan Nhi Khoa Lộc Tiến Vy"
).split()
CHINESE_FAMILY = {
    "李": "li", "王": "wang", "张": "zhang", "刘": "liu", "陈": "chen", "杨": "yang", "赵": "zhao", "黄": "huang",
    "周": "zhou", "吴": "wu", "徐": "xu", "孙": "sun", "胡": "hu", "朱": "zhu", "高": "gao", "林": "lin",
    "何": "he", "郭": "guo", "马": "ma", "罗": "luo", "欧阳": "ouyang", "司马": "sima",
}
CHINESE_GIVEN = (
    "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 小明 小红 建华 志强 海燕 "
    "婷 雪 晨 宇 浩 欣 怡 俊 鹏 子涵 梓萱 浩然 宇轩 一诺 思远"
).split()
JAPANESE_FAMILY = "佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤 吉田 山田 佐々木 松本 井上".split()
JAPANESE_GIVEN = "太郎 花子 翔太 さくら 陽菜 健太 美咲 大輔 結衣 蓮 葵 湊 ひなた 悠真 芽依 はると".split()
KOREAN_FAMILY = "김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권".split()
KOREAN_GIVEN = "민준 서연 지우 하준 서준 지민 수빈 예준 도윤 서윤 시우 하은 주원 지호 유나 은서".split()


def person(rng: random.Random) -> tuple[str, str]:
    """A display name and the stem of a localpart its owner might pick."""
    kind = rng.random()
    if kind < 0.45:
        first, last = rng.choice(LATIN_FIRST), rng.choice(LATIN_LAST)
        return f"{first} {last}", f"{first}.{last}" if rng.random() < 0.6 else first + last[0]
    if kind < 0.70:
        family, given = rng.choice(VIETNAMESE_FAMILY), rng.choice(VIETNAMESE_GIVEN)
        return f"{family} {rng.choice(VIETNAMESE_MIDDLE)} {given}", f"{given}.{family}"
    if kind < 0.85:
        family = rng.choice(list(CHINESE_FAMILY))
        return family + rng.choice(CHINESE_GIVEN), f"{CHINESE_FAMILY[family]}{rng.randrange(1000)}"
    if kind < 0.93:
        family, given = rng.choice(JAPANESE_FAMILY), rng.choice(JAPANESE_GIVEN)
        return (f"{family} {given}" if rng.random() < 0.5 else family + given), f"jp{rng.randrange(100000)}"
    return rng.choice(KOREAN_FAMILY) + rng.choice(KOREAN_GIVEN), f"kr{rng.randrange(100000)}"


def make_people(count: int, rng: random.Random, taken: set[str]) -> list[tuple[str, str | None]]:
    """(localpart, display name) pairs; one in twelve has no display name."""
    people: list[tuple[str, str | None]] = []
    while len(people) < count:
        name, stem = person(rng)
        base = re.sub(r"[^a-z0-9._]", "", fold(stem)) or "user"
        localpart, n = base, 1
        while localpart in taken:
            n += 1
            localpart = f"{base}{n}"
        taken.add(localpart)
        people.append((localpart, None if rng.random() < 1 / 12 else name))
    return people


def make_terms(count: int, people: list[tuple[str, str | None]], rng: random.Random) -> list[str]:
    """What people type: mostly the start of a name or username, sometimes a piece from
    inside one; as written (accents, capitals) or plain."""
    terms: list[str] = []
    while len(terms) < count:
        localpart, name = rng.choice(people)
        text = name if name and rng.random() < 0.7 else localpart
        word = rng.choice(re.findall(r"[^\W_]+", text))
        if len(word) < 2:
            continue
        length = min(rng.randint(2, 6), len(word))
        start = 0 if rng.random() < 0.75 else rng.randrange(len(word) - length + 1)
        term = word[start:start + length]
        terms.append(term if rng.random() < 0.5 else fold(term))
    return terms


def whole_terms(count: int, people: list[tuple[str, str | None]], rng: random.Random) -> dict[str, list[str]]:
    """What people type when they know the name: a whole username or display name, the
    same less its last character (still typing), and a first name with the start of the
    next (several words)."""
    shapes: dict[str, list[str]] = {
        "whole username": [], "username less its last character": [], "whole display name": [],
        "display name less its last character": [], "first name and start of the next": [],
    }
    while min(len(terms) for terms in shapes.values()) < count:
        localpart, name = rng.choice(people)
        shapes["whole username"].append(localpart)
        shapes["username less its last character"].append(localpart[:-1])
        if name:
            shapes["whole display name"].append(name)
            shapes["display name less its last character"].append(name[:-1])
            parts = name.split()
            if len(parts) > 1:
                shapes["first name and start of the next"].append(f"{parts[0]} {parts[1][:2]}")
    return {shape: terms[:count] for shape, terms in shapes.items()}


async def seed(conn: asyncpg.Connection, people: list[tuple[str, str | None]], rng: random.Random) -> None:
    users: list[tuple[object, ...]] = []
    profiles: list[tuple[object, ...]] = []
    entries: list[tuple[object, ...]] = []
    prefixes: list[tuple[str, str, str]] = []
    for localpart, name in people:
        user_id = f"@{localpart}:{SERVER_NAME}"
        avatar = f"mxc://{SERVER_NAME}/{localpart}" if rng.random() < 0.3 else None
        entry = make_entry(user_id, localpart, name, avatar)
        users.append((user_id, localpart, 0))
        profiles.append((user_id, name, avatar))
        entries.append((user_id, name, avatar, False, entry.localpart_key, entry.displayname_key, entry.words,
                        entry.sort_name, list(entry.prefixes)))
        prefixes.extend((prefix, entry.sort_name, user_id) for prefix in entry.prefixes)
    await conn.copy_records_to_table("users", records=users, columns=["user_id", "localpart", "created_ts"])
    await conn.copy_records_to_table("profiles", records=profiles, columns=["user_id", "displayname", "avatar_url"])
    await conn.copy_records_to_table("user_directory", records=entries, columns=[
        "user_id", "displayname", "avatar_url", "hidden", "localpart_key", "displayname_key", "words",
        "sort_name", "prefixes"])
    await conn.copy_records_to_table(
        "user_directory_prefixes", records=prefixes, columns=["prefix", "sort_name", "user_id"])
    # A server that has been up a while is vacuumed: index-only scans skip the heap, and
    # autovacuum is not busy with the rows just copied in while we measure.
    for table in ("users", "profiles", "user_directory", "user_directory_prefixes"):
        await conn.execute(f"VACUUM (ANALYZE) {table}")


async def seed_login_users(conn: asyncpg.Connection, count: int) -> list[str]:
    hasher = PasswordHasher(PasswordHashConfig())  # the production defaults
    localparts = [f"login{i}" for i in range(count)]
    for localpart in localparts:
        await conn.execute(
            "INSERT INTO users (user_id, localpart, password_hash, created_ts) VALUES ($1, $2, $3, 0)",
            f"@{localpart}:{SERVER_NAME}", localpart, await hasher.hash(PASSWORD),
        )
    return localparts


async def measure_search(server: Server, token: str, terms: list[str], warmup: int) -> tuple[list[float], list[float]]:
    """Search latencies, and those of an auth-only request sent between them: the share of
    HTTP, the access-token check and the machine's own noise."""
    search, baseline = [], []
    for i, term in enumerate(terms):
        search_ms = await timed(server.call(
            "POST", "/_matrix/client/v3/user_directory/search", {"search_term": term}, token))
        baseline_ms = await timed(server.call("GET", "/_matrix/client/v3/account/whoami", None, token))
        if i >= warmup:
            search.append(search_ms)
            baseline.append(baseline_ms)
    return search, baseline


async def timed(request: Awaitable[object]) -> float:
    started = time.perf_counter()
    await request
    return (time.perf_counter() - started) * 1000


async def measure_login(server: Server, localparts: list[str], count: int) -> list[float]:
    samples = []
    for i in range(count):
        identifier = {"type": "m.id.user", "user": localparts[i % len(localparts)]}
        body = {"type": "m.login.password", "identifier": identifier, "password": PASSWORD}
        samples.append(await timed(server.call("POST", "/_matrix/client/v3/login", body)))
    return samples


@asynccontextmanager
async def fresh_database(url: str | None) -> AsyncIterator[str | None]:
    """A new database on the server at ``url`` for this run, dropped afterwards."""
    if url is None:
        yield None
        return
    name = f"bench_user_directory_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
    try:
        base, sep, query = url.partition("?")
        yield f"{base.rsplit('/', 1)[0]}/{name}{sep}{query}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def embedded_url(server: Server) -> str:
    # pgserver listens on a Unix socket inside its data directory.
    return f"postgresql://postgres@/homeserver?host={server.data_dir / 'postgres'}"


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    async with fresh_database(args.database_url) as url, running_server(url) as server:
        conn = await asyncpg.connect(url or embedded_url(server))
        try:
            token = await server.register("searcher")
            people: list[tuple[str, str | None]] = []
            taken: set[str] = {"searcher"}
            for size in args.sizes:
                started = time.perf_counter()
                more = make_people(size - len(people), rng, taken)
                await seed(conn, more, rng)
                people += more
                print(f"seeded {len(people)} users in {time.perf_counter() - started:.1f} s", flush=True)
                terms = make_terms(args.warmup + args.queries, people, rng)
                samples, baseline = await measure_search(server, token, terms, args.warmup)
                print(summary(f"search, {len(people)} users, typed 2-6 characters", samples),
                      f"max={max(samples):.2f} ms (load average {os.getloadavg()[0]:.2f})")
                print("  " + summary("auth-only baseline (GET /account/whoami)", baseline), flush=True)
                for shape, shaped in whole_terms(args.whole_queries, people, rng).items():
                    samples, _ = await measure_search(server, token, shaped, 0)
                    print(summary(f"search, {len(people)} users, {shape}", samples),
                          f"max={max(samples):.2f} ms (load average {os.getloadavg()[0]:.2f})", flush=True)
            size = await conn.fetchval(
                "SELECT pg_size_pretty(pg_total_relation_size('user_directory')"
                " + pg_total_relation_size('user_directory_prefixes'))")
            print(f"directory tables with indexes: {size}")
            localparts = await seed_login_users(conn, 5)
        finally:
            await conn.close()
        samples = await measure_login(server, localparts, args.logins)
        print(summary("login (argon2id, production cost)", samples), f"p90={percentile(samples, 90):.2f} ms",
              f"(load average {os.getloadavg()[0]:.2f})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="an external PostgreSQL (a fresh database is made on it)")
    parser.add_argument("--sizes", default="10000,100000", type=lambda s: [int(n) for n in s.split(",")],
                        help="directory sizes to measure at, ascending (default: 10000,100000)")
    parser.add_argument("--queries", type=int, default=3000, help="searches measured at each size")
    parser.add_argument("--warmup", type=int, default=300, help="searches sent first and not measured")
    parser.add_argument("--whole-queries", type=int, default=1000,
                        help="searches measured for each shape of whole names (usernames, display names, words)")
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
