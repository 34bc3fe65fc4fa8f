"""The attempt count a node reports for a message it could not deliver is its own retry
count (the node retries; its transport sender makes one attempt per call)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from node_kit import ANA, PT, write_directory

from eessi.directory import load_directory
from eessi.journal.base import Direction, MessageStatus
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import open_institution
from eessi.transport.client import RetryPolicy


async def test_failed_send_logs_and_journals_the_nodes_attempt_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = load_directory(write_directory(tmp_path))
    options = NodeOptions(retry=RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.05))
    pt = await open_institution(
        directory.get(PT), directory, tmp_path / "pt.sqlite", seed=1, options=options,
        synchronous="NORMAL",
    )  # fmt: skip
    caplog.set_level(logging.INFO, logger="eessi.node")
    try:
        await pt.start()
        await pt.submit(RequestEntitlement(ANA))  # to the CNS, which is not running
        async with asyncio.timeout(30):
            await pt.idle()
        (s071,) = await pt.journal.messages(direction=Direction.OUT)
    finally:
        await pt.stop()
        await pt.journal.close()
    assert s071.status is MessageStatus.FAILED
    assert s071.attempts == 4
    failed = [r.getMessage() for r in caplog.records if "FAILED" in r.getMessage()]
    assert len(failed) == 1
    assert "no receipt after 4 attempt(s)" in failed[0]
    assert "cannot connect" in failed[0]  # the last attempt's reason
    assert "after 1 attempt(s)" not in caplog.text
    assert "after 1 attempt(s)" not in (s071.last_error or "")
