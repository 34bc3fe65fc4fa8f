"""A real ``eessi up`` process (CNS + the Portuguese mock fund) for the operations tests, and an
S071 -> S072 -> S073 flow driven through the fund's admin API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from eessi.directory import load_default_directory
from eessi.journal import open_journal
from eessi.journal.base import MessageRecord
from eessi.node.network import directory_on_ports, free_port_run, journal_file_name

CNS, PT = "LU:CNS00001", "PT:ISS00001"
#: A household of the shipped examples: the CNS insures João, his wife Ana lives in Portugal.
ANA = "silva-luxembourg/ana"


class Up:
    """``eessi up --port-base N --institution CNS --institution PT`` with output in files."""

    def __init__(self, where: Path, *extra: str) -> None:
        self.where = where
        self.extra = extra
        directory = load_default_directory()
        self.base = free_port_run(len(directory))
        ported = directory_on_ports(directory, self.base)
        self.urls = {i: ported.get(i).endpoint.rsplit("/", 1)[0] for i in (CNS, PT)}
        self.db_dir = where / "journals"
        self.out = where / "stdout.txt"
        self.err = where / "stderr.txt"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "eessi", "up", "--port-base", str(self.base),
                "--institution", CNS, "--institution", PT, "--db-dir", str(self.db_dir),
                "--tick", "0", "--synchronous", "NORMAL", *self.extra,
                stdout=out, stderr=err,
            )  # fmt: skip

    async def wait_ready(self) -> None:
        async with aiohttp.ClientSession() as session, asyncio.timeout(60):
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"eessi up exited: {self.err.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    ok = True
                    for url in self.urls.values():
                        async with session.get(url + "/api/health") as resp:
                            ok = ok and resp.status == 200
                    if ok:
                        return
                await asyncio.sleep(0.1)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(30):
            return await self.proc.wait()

    def lines(self) -> list[str]:
        """Every line the process wrote, stdout then stderr."""
        text = self.out.read_text(encoding="utf-8") + self.err.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip()]

    async def journal(self, ir_id: str) -> list[MessageRecord]:
        journal = await open_journal(self.db_dir / journal_file_name(ir_id), synchronous="NORMAL")
        try:
            return await journal.messages()
        finally:
            await journal.close()


@contextlib.asynccontextmanager
async def running(where: Path, *extra: str) -> AsyncIterator[Up]:
    up = Up(where, *extra)
    await up.start()
    try:
        await up.wait_ready()
        yield up
    finally:
        await up.stop()


async def s071_flow(up: Up) -> dict[str, Any]:
    """The fund asks the CNS for Ana's S072 (R17) through its admin API; returns the answer
    once the fund's S073 is acknowledged and processed by the CNS (bounded wait)."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            up.urls[PT] + "/api/requests",
            json={"kind": "request_entitlement", "person": ANA},
        ) as resp:
            assert resp.status < 300, (resp.status, await resp.text())
            answer: dict[str, Any] = await resp.json()
        async with asyncio.timeout(60):
            while True:
                async with session.get(up.urls[CNS] + "/api/messages") as resp:
                    items = (await resp.json())["items"]
                if any(m["sed_type"] == "S073" and m["status"] == "processed" for m in items):
                    break
                await asyncio.sleep(0.1)
            while True:  # and the fund has the CNS's receipt for it
                async with session.get(up.urls[PT] + "/api/messages") as resp:
                    items = (await resp.json())["items"]
                if any(m["sed_type"] == "S073" and m["status"] == "acknowledged" for m in items):
                    return answer
                await asyncio.sleep(0.1)


def parse_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Each line as JSON; fails naming the first line that is not."""
    parsed = []
    for n, line in enumerate(lines, 1):
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise AssertionError(f"line {n} is not JSON: {line!r}") from exc
        assert isinstance(value, dict), line
        parsed.append(value)
    return parsed
