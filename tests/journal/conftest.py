"""The contract suite's fixtures: ``store`` and ``journal`` run each test on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from journal_store import Store

from eessi.journal.base import Journal


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh, empty journal store: a SQLite file, or a database in the session's PostgreSQL
    test cluster (which fails the test if it cannot start: tests/postgres_cluster.py)."""
    if request.param == "sqlite":
        return Store("sqlite", str(tmp_path / "j.sqlite"))
    url: str = request.getfixturevalue("postgres_url")
    return Store("postgresql", url)


@pytest.fixture
async def journal(store: Store) -> AsyncIterator[Journal]:
    j = await store.open()
    yield j
    await j.close()
