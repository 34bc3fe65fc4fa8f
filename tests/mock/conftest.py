"""Fixtures shared by the mock fund's tests: a world of loopback nodes, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .kit import World, world


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    """The CNS and the foreign funds of ``tests/mock/kit.py``, serving on loopback."""
    async with world(tmp_path) as w:
        yield w


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
