"""The layering of DESIGN.md, checked on the source: no handler package imports a sibling
handler package (they write through the change feed and share the lower layers:
events, streams, timeline, storage), and the pure and low layers import no handler."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "homeserver"
HANDLERS = {"users", "rooms", "sync", "push", "media", "e2ee"}
LOW = {"events", "streams", "timeline", "storage"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("homeserver.")}


def _sources(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(HANDLERS))
def test_handler_packages_do_not_import_each_other(package: str) -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _sources(package) for name in _imports(path)
        if name.split(".")[1] in HANDLERS - {package}
    ]
    assert not offending, offending


@pytest.mark.parametrize("package", sorted(LOW))
def test_lower_layers_import_no_handler(package: str) -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _sources(package) for name in _imports(path)
        if name.split(".")[1] in HANDLERS | {"api"}
    ]
    assert not offending, offending


def test_events_stay_pure() -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _sources("events") for name in _imports(path)
        if name.split(".")[1] not in {"events", "errors"}
    ]
    assert not offending, offending
