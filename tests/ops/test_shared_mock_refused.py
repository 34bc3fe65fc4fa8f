"""A mock fund cannot run as several processes (issue 17, D198): ``eessi serve --shared`` for a
mock fund exits with a structured refusal (code ``cli.shared-mock``, what to do instead) before
it touches the journal: the PostgreSQL database it was given stays empty. Real process, real
server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import pytest
from serve_support import PT, write_directory

pytestmark = pytest.mark.slow


async def test_a_mock_fund_refuses_shared_before_touching_its_journal(
    tmp_path: Path, postgres_url: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", "serve", "--institution", PT,
        "--directory", str(write_directory(tmp_path)), "--journal", postgres_url, "--shared",
        "--log-format", "json",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 2
    text = err.decode()
    assert "PT:ISS00001 is a mock fund" in text
    assert "(at --shared)" in text
    assert "one process each" in text  # what to do instead
    assert out == b""  # never listened
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert tables == 0  # refused before the journal was opened
