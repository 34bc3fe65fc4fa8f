"""Suite-wide settings. Hypothesis never fails a test on timing: CI machines are shared and
loaded, and speed goals live in bench/, not in tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from postgres_cluster import SKIP_VARIABLE, PostgresCluster, start_cluster

settings.register_profile(
    "eessi",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("eessi")


# -- the PostgreSQL test cluster (tests/postgres_cluster.py, decision D83) ---------------------
@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL server for the whole session. If it cannot start, every test
    that needs it FAILS (errors), unless EESSI_TEST_SKIP_POSTGRES=1 says to skip them."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"PostgreSQL tests skipped: {SKIP_VARIABLE}=1")
    try:
        cluster = start_cluster()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a fresh, empty database in the session's cluster."""
    return postgres_cluster.new_database()
