"""``eessi serve`` as a real process for the tests that face one institution over HTTP (a restart
on the same journal, a reset of lone processes, the operations tests): the command line and the
environment every such test starts it with, :func:`eessi_serve_process` (started, ready once it
prints its "listening on" line, stopped with SIGTERM and required to exit 0) and :func:`call`,
one admin API call. Importable from every test folder, as :mod:`up_process` is."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

#: Bound on every wait for a process (a hang fails there; a loaded machine still passes).
BOUND = 60.0
#: Variables of the test run's environment a started process must not inherit: a crash point
#: or an admin token set for another test.
_NOT_INHERITED = ("EESSI_CRASH_AT", "EESSI_ADMIN_TOKEN")


def serve_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without :data:`_NOT_INHERITED`, with ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(extra or {})
    return env


def serve_command(directory: Path, ir_id: str, db: Path | str, *args: str) -> list[str]:
    """``python -m eessi serve`` of ``ir_id`` on ``db`` (a SQLite file, or a ``postgresql://``
    URL given as ``--journal``), no timer ticks, then ``args``."""
    store = (
        ["--journal", db]
        if isinstance(db, str) and db.startswith("postgresql")
        else ["--db", str(db)]
    )
    return [
        sys.executable, "-m", "eessi", "serve", "--institution", ir_id,
        "--directory", str(directory), *store, "--tick", "0", *args,
    ]  # fmt: skip


@asynccontextmanager
async def eessi_serve_process(
    directory: Path, ir_id: str, db: Path | str, *args: str
) -> AsyncIterator[str]:
    """``eessi serve`` of ``ir_id`` as its own process: its base URL once it listens. Its
    output is read all along (a full pipe would stall it); on leaving, SIGTERM must end it
    with 0 within :data:`BOUND` seconds (else it is killed and the test fails)."""
    proc = await asyncio.create_subprocess_exec(
        *serve_command(directory, ir_id, db, *args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=serve_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    err = asyncio.create_task(proc.stderr.read())
    rest: asyncio.Task[bytes] | None = None
    out = b""
    try:
        async with asyncio.timeout(BOUND):
            while not (found := re.search(rb"listening on (http://\S+)", out)):
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError(f"eessi serve ended before it listened: {out.decode()}")
                out += line
        rest = asyncio.create_task(proc.stdout.read())
        yield found.group(1).decode()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(BOUND):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"eessi serve did not stop within {BOUND:.0f} s") from None
        stderr = (await err).decode(errors="replace")
        if rest is not None:
            await rest
    assert proc.returncode == 0, stderr


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    """One admin API call: the status and the JSON answer (``None`` if not JSON)."""
    async with http.request(method, url, json=body) as resp:
        try:
            return resp.status, await resp.json()
        except (aiohttp.ContentTypeError, ValueError):
            return resp.status, None
