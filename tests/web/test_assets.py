"""The committed build in homeserver/web/ is the build of webclient/ as it stands.

build-info.json, written by webclient/build.mjs, records a hash over every input
(build.mjs, package.json, package-lock.json, src/) and the hash of every output. The
first tests recompute both in Python, so a source change without a rebuild, or a
built file edited by hand, fails even where Node is missing. The last one rebuilds with
esbuild into a temporary directory and compares the bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.web.node import node_with_packages, run

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "webclient"
BUILT = ROOT / "homeserver" / "web"
INPUTS = ("build.mjs", "package.json", "package-lock.json", "src")  # as in build.mjs
STALE = "the built web client is stale: run `node webclient/build.mjs` (after `npm ci` in webclient/) and commit homeserver/web/"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sources_hash(root: Path = SOURCE) -> str:
    files = []
    for name in INPUTS:
        path = root / name
        files += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    digest = hashlib.sha256()
    for relative in sorted(p.relative_to(root).as_posix() for p in files):
        digest.update(f"{relative}\0{_sha256((root / relative).read_bytes())}\n".encode())
    return digest.hexdigest()


def _built_files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): _sha256(p.read_bytes())
            for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name not in ("build-info.json", "__init__.py") and "__pycache__" not in p.parts}


def test_built_assets_match_the_sources() -> None:
    info = json.loads((BUILT / "build-info.json").read_text())
    assert info["sources_sha256"] == sources_hash(), STALE


def test_built_files_are_exactly_the_recorded_build() -> None:
    info = json.loads((BUILT / "build-info.json").read_text())
    assert _built_files(BUILT) == info["files"], "homeserver/web/ differs from its build-info.json: " + STALE


def test_index_loads_the_built_script_and_stylesheet_only() -> None:
    index = (BUILT / "index.html").read_text()
    scripts = [name for name in _built_files(BUILT) if name.endswith(".js")]
    assert len(scripts) == 1 and f'<script type="module" src="{scripts[0]}"></script>' in index
    assert index.count("<script") == 1 and "<style" not in index and "style=" not in index


async def test_rebuilding_gives_the_committed_bytes(tmp_path: Path) -> None:
    node = await node_with_packages(SOURCE)
    code, out, err = await run(node, "build.mjs", "--outdir", str(tmp_path), cwd=SOURCE, timeout=120)
    assert code == 0, f"build.mjs failed ({code}):\n{out}\n{err}"
    assert _built_files(tmp_path) == _built_files(BUILT), STALE
    assert json.loads((tmp_path / "build-info.json").read_text()) == json.loads((BUILT / "build-info.json").read_text())
