"""``eessi up`` as a real process for the tests that face it over HTTP (the tester's journey, the
export of a live run): started with the given arguments, ready once it prints its Ctrl-C line,
stopped with SIGINT and required to exit 0."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def eessi_up_process(*args: str) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", "up", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = b""
    try:
        async with asyncio.timeout(60):
            while b"Ctrl-C" not in seen:
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError(f"eessi up ended: {seen.decode()}")
                seen += line
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
