"""``eessi serve`` processes for the operations tests: a directory on free loopback ports, one
process per institution with its output in a file, its admin API, its journal read after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from serve_process import BOUND, call, serve_command, serve_env

from eessi.directory import default_directory_path, load_directory
from eessi.journal import open_journal
from eessi.journal.base import MessageRecord

CNS, PT = "LU:CNS00001", "PT:ISS00001"
#: A household of the shipped examples: the CNS insures João, his wife Ana lives in Portugal.
ANA = "silva-luxembourg/ana"


def write_directory(where: Path) -> Path:
    """The shipped directory with every endpoint on its own free loopback port, no admin URLs
    (each node's admin API is on its endpoint's port)."""
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in pattern.findall(text):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
    it = iter(ports)
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(it)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def household(n: int, country: str = "PT") -> dict[str, object]:
    """Household ``n``: a main insured in Luxembourg, a spouse living in ``country``, in the
    RNPP (so the CNS confirms her S071 with an S072: rule R17)."""
    return {
        "format": "eessi-household/1",
        "id": f"ops-{n:05d}",
        "main_insured": [
            {
                "id": "main",
                "pin": f"19800101{n:05d}",
                "name": f"Paul Ops{n}",
                "date_of_birth": "1980-01-01",
                "affiliated_since": "2020-01-01",
            }
        ],
        "members": [
            {
                "id": "spouse",
                "name": f"Claire Ops{n}",
                "relation": "spouse",
                "date_of_birth": "1982-06-15",
                "relation_since": "2010-05-01",
                "country_of_residence": country,
                "rnpp_registered": True,
            }
        ],
    }


def write_households(where: Path, n: int, country: str = "PT") -> Path:
    """``n`` households of :func:`household` in a folder (``--households``); each spouse's key
    at the fund is ``ops-NNNNN/spouse``."""
    folder = where / "households"
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"ops-{i:05d}.json").write_text(json.dumps(household(i, country)), "utf-8")
    return folder


def spouse(n: int) -> str:
    """The fund's record key of household ``n``'s spouse."""
    return f"ops-{n:05d}/spouse"


class Serve:
    """One ``eessi serve --institution ID`` process on a SQLite journal (or ``--journal``)."""

    def __init__(
        self,
        directory: Path,
        ir_id: str,
        db: Path | str,
        log: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.directory, self.ir_id, self.db, self.log = directory, ir_id, db, log
        self.args: Sequence[str] = args
        self.env = env or {}
        self.url = load_directory(directory).get(ir_id).endpoint.rsplit("/", 1)[0]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        command = serve_command(self.directory, self.ir_id, self.db, *self.args)
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *command, "--synchronous", "NORMAL",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=serve_env(self.env),
            )  # fmt: skip

    async def wait_ready(self, headers: Mapping[str, str] | None = None) -> None:
        async with aiohttp.ClientSession(headers=headers) as session, asyncio.timeout(BOUND):
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"serve exited: {self.log.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/api/health/ready") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)

    async def terminate(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``sig``; the exit code and the seconds until the process exited."""
        assert self.proc is not None
        start = time.monotonic()
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            async with asyncio.timeout(BOUND):
                code = await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"{self.ir_id} did not exit within {BOUND:.0f} s") from None
        return code, time.monotonic() - start

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def messages(self) -> list[MessageRecord]:
        """What the journal holds (read directly; for a stopped process)."""
        journal = await open_journal(self.db, synchronous="NORMAL")
        try:
            return await journal.messages()
        finally:
            await journal.close()


async def listed(session: aiohttp.ClientSession, node: Serve, query: str) -> list[dict[str, Any]]:
    """Every message of ``node``'s ``/api/messages?query`` (all pages)."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        url = f"{node.url}/api/messages?{query}&limit=500" + (f"&after={after}" if after else "")
        status, page = await call(session, "GET", url)
        assert status == 200, page
        items.extend(page["items"])
        after = page.get("next")
        if not after:
            return items


async def until(predicate: Any, what: str, bound: float = BOUND) -> None:
    """Poll the async ``predicate`` every 0.1 s until true; fail naming ``what`` at ``bound``."""
    try:
        async with asyncio.timeout(bound):
            while True:
                if await predicate():
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {bound:.0f} s: {what}") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def owner_pids(url: str) -> dict[int, int]:
    """Each partition of the CNS and the PID of the process that holds it (from ``partitions``)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT part, holder FROM partitions WHERE institution = $1", CNS)
    finally:
        await conn.close()
    return {int(r["part"]): int(r["holder"].rsplit(":", 1)[1]) for r in rows}


def cross_border_households(where: Path, n: int) -> str:
    """Households whose main insured lives in Portugal (the CNS sends his S072 unasked, R13)
    and whose spouse lives in Luxembourg."""
    folder = write_households(where, n, country="LU")
    for i in range(n):
        path = folder / f"ops-{i:05d}.json"
        data = json.loads(path.read_text("utf-8"))
        data["main_insured"][0]["country_of_residence"] = "PT"
        path.write_text(json.dumps(data), "utf-8")
    return str(folder)


async def start_shared(
    tmp_path: Path,
    url: str,
    parts: int,
    *args: str,
    envs: Sequence[Mapping[str, str] | None] = (None, None),
) -> list[Serve]:
    """Two ``--shared`` CNS processes on ``url``, each on a port of its own (so that a test
    asks the one it means), once each owns half of the ``parts`` partitions; ``envs``: each
    one's extra environment."""
    directory = write_directory(tmp_path)
    nodes = []
    for i in range(2):
        port = free_port()
        node = Serve(
            directory, CNS, url, tmp_path / f"cns{i}.log", "--shared", "--partitions",
            str(parts), "--port", str(port), *args, env=envs[i],
        )  # fmt: skip
        node.url = f"http://127.0.0.1:{port}"
        await node.start()
        nodes.append(node)
    for node in nodes:
        await node.wait_ready()

    async def shared() -> bool:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT holder FROM partitions WHERE institution = $1", CNS)
        finally:
            await conn.close()
        pids = [str(n.proc.pid) for n in nodes if n.proc is not None]
        holders = [r["holder"].rsplit(":", 1)[1] for r in rows]
        return len(holders) == parts and all(holders.count(p) == parts // 2 for p in pids)

    await until(shared, "the two processes own half of the partitions each")
    return nodes
