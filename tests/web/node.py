"""Node.js and Debian's Chromium for the web client's tests.

Both are required: a missing one fails the test with what to install, never a silent
skip. HOMESERVER_SKIP_BROWSER_TESTS=1 skips them on purpose (pytest reports the skips).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

NODE_MAJOR = 20
CHROMIUM = os.environ.get("HOMESERVER_TEST_CHROMIUM", "/usr/bin/chromium")


def _missing(what: str) -> None:
    if os.environ.get("HOMESERVER_SKIP_BROWSER_TESTS") == "1":
        pytest.skip(f"HOMESERVER_SKIP_BROWSER_TESTS=1 and {what}")
    pytest.fail(f"{what}; the web client's tests need it (or set HOMESERVER_SKIP_BROWSER_TESTS=1)")


async def run(*argv: str, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{' '.join(argv)} did not finish in {timeout} s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def node_with_packages(directory: Path) -> str:
    """The node binary, with ``directory``'s package-lock.json installed (npm ci when stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node.js (node and npm) is not installed")
    assert node is not None and npm is not None
    _, version, _ = await run(node, "--version", cwd=directory, timeout=30)
    match = re.match(r"v(\d+)\.", version.strip())
    if not match or int(match.group(1)) < NODE_MAJOR:
        _missing(f"Node.js >= {NODE_MAJOR} is needed, found {version.strip()!r}")
    # npm writes node_modules/.package-lock.json on every install: stale or missing, reinstall.
    installed = directory / "node_modules" / ".package-lock.json"
    lockfile = directory / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
        code, out, err = await run(npm, "ci", "--no-audit", "--no-fund", cwd=directory, timeout=300)
        if code != 0:
            pytest.fail(f"npm ci in {directory} failed ({code}):\n{out}\n{err}")
    return node


def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install -y chromium)")
    return CHROMIUM
