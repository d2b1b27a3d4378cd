"""The SDK's tests use the plugin shipped in ``bots.testing`` (``matrix_server``), on the
same PostgreSQL as the rest of the suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def matrix_postgres_url(postgres_url: str) -> str:
    return postgres_url
