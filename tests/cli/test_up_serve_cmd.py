"""``eessi serve`` and ``eessi up`` as real processes: an R17 flow between two processes, a
receiver killed with SIGKILL mid-flow and restarted on its journal, clean stops.

The CNS runs as ``python -m eessi serve`` (its own process, its own SQLite file); the Portuguese
fund runs in the test process as an :class:`Institution`, so the test can start the flow and
watch it. Journals are read after the processes stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import load_as4
from eessi.directory import Directory, default_directory_path, load_directory
from eessi.journal import open_journal
from eessi.journal.base import Direction, MessageStatus
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import open_institution
from eessi.node.records import INPUT_LOG
from eessi.transport.client import RetryPolicy

CNS = "LU:CNS00001"
PT = "PT:ISS00001"
FR = "FR:CPAM5701"
#: A household of the shipped examples: the CNS insures João, his wife Ana lives in Portugal.
ANA = "silva-luxembourg/ana"

pytestmark = pytest.mark.slow

#: The fund retries long enough for the CNS to be restarted (about 15 s of back-off).
PATIENT = NodeOptions(retry=RetryPolicy(max_attempts=8, base_delay=0.3, max_delay=3.0))


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (every socket stays bound until all are chosen, so
    the OS cannot hand one port out twice)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def write_directory(where: Path) -> Path:
    """The shipped directory with every endpoint on its own free port and no admin URLs."""
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    ports = iter(free_ports(len(pattern.findall(text))))
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def serve_args(directory: Path, ir_id: str, db: Path, *extra: str) -> list[str]:
    """``eessi serve`` of ``ir_id`` on its journal ``db``, not ticking."""
    return ["serve", "--institution", ir_id, "--directory", str(directory), "--db", str(db),
            "--tick", "0", *extra]  # fmt: skip


def up_args(directory: Path, db_dir: Path, *extra: str) -> list[str]:
    """``eessi up`` with every journal in ``db_dir``, not ticking."""
    return ["up", "--directory", str(directory), "--db-dir", str(db_dir), "--tick", "0", *extra]


async def eessi(*args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """``python -m eessi ARGS``, its output piped unless ``kwargs`` say otherwise."""
    pipes: dict[str, Any] = {"stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", *args, **(pipes | kwargs)
    )


class Serve:
    """One ``eessi serve`` process."""

    def __init__(
        self, directory: Path, ir_id: str, db: Path, log: Path, *, seed: int | None = None
    ) -> None:
        self.directory, self.ir_id, self.db, self.log = directory, ir_id, db, log
        self.seed = seed
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, crash_at: str | None = None) -> None:
        env = dict(os.environ)
        env.pop("EESSI_CRASH_AT", None)
        if crash_at:
            env["EESSI_CRASH_AT"] = crash_at
        out = self.log.open("ab")
        try:
            seed = [] if self.seed is None else ["--seed", str(self.seed)]
            self.proc = await eessi(
                *serve_args(self.directory, self.ir_id, self.db, "--synchronous", "NORMAL", *seed),
                stdout=out,
                stderr=out,
                env=env,
            )
        finally:
            out.close()

    async def wait_ready(self, url: str) -> None:
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"serve exited: {self.log.read_text()}")
                try:
                    async with session.get(url + "/api/health") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            return await self.proc.wait()

    async def wait_exit(self) -> int:
        assert self.proc is not None
        async with asyncio.timeout(20):
            return await self.proc.wait()


def base_url(directory: Directory, ir_id: str) -> str:
    return directory.get(ir_id).endpoint.rsplit("/", 1)[0]


@pytest.fixture
def directory_file(tmp_path: Path) -> Path:
    return write_directory(tmp_path)


@pytest.fixture
async def fund(directory_file: Path, tmp_path: Path) -> AsyncIterator[Institution]:
    directory = load_directory(directory_file)
    # eessi serve speaks secured AS4 with the PKI beside the directory file: so does the fund
    network = load_as4(directory, pki_dir=None, default_pki_dir=directory_file.parent / "pki")
    inst = await open_institution(
        directory.get(PT),
        directory,
        tmp_path / "pt.sqlite",
        seed=3,
        options=PATIENT,
        synchronous="NORMAL",
        transport=as4_transport(network),
    )
    await inst.start()
    try:
        yield inst
    finally:
        await inst.stop()
        await inst.journal.close()


async def wait_for(predicate_journal: Institution, sed: str, status: MessageStatus) -> None:
    """Until the fund's journal shows ``sed`` with ``status`` (bounded)."""
    async with asyncio.timeout(40):
        while True:
            for m in await predicate_journal.journal.messages():
                if m.sed_type == sed and m.status is status:
                    return
            await asyncio.sleep(0.1)


async def cns_journal(db: Path) -> list[tuple[str, str, str, int]]:
    journal = await open_journal(db, synchronous="NORMAL")
    try:
        return [
            (m.direction.value, m.sed_type, m.status.value, m.duplicates)
            for m in await journal.messages()
        ]
    finally:
        await journal.close()


async def input_log(db: Path) -> list[str | None]:
    journal = await open_journal(db, synchronous="NORMAL")
    try:
        return [e.data.get("kind") for e in await journal.case_events(INPUT_LOG)]
    finally:
        await journal.close()


async def test_R17_flow_between_two_processes(
    directory_file: Path, tmp_path: Path, fund: Institution
) -> None:
    directory = load_directory(directory_file)
    cns = Serve(directory_file, CNS, tmp_path / "cns.sqlite", tmp_path / "cns.log")
    await cns.start()
    await cns.wait_ready(base_url(directory, CNS))
    step = await fund.submit(RequestEntitlement(ANA))
    await wait_for(fund, "S073", MessageStatus.ACKNOWLEDGED)
    assert await cns.stop() == 0
    assert "stopping" in (tmp_path / "cns.log").read_text()
    assert [m[:3] for m in await cns_journal(cns.db)] == [
        ("in", "S071", "processed"),
        ("out", "S072", "acknowledged"),
        ("in", "S073", "processed"),
    ]
    registered = list(fund.desk.snapshot().registered)
    assert registered == [step.outgoing[0].case_id]


@pytest.mark.parametrize(
    "crash_at", ["after-accept:S071", "before-commit:S071", "after-commit:S071"]
)
async def test_receiver_killed_mid_flow_and_restarted_completes_the_case_once(
    directory_file: Path, tmp_path: Path, fund: Institution, crash_at: str
) -> None:
    directory = load_directory(directory_file)
    cns = Serve(directory_file, CNS, tmp_path / "cns.sqlite", tmp_path / "cns.log")
    await cns.start(crash_at=crash_at)
    await cns.wait_ready(base_url(directory, CNS))
    await fund.submit(RequestEntitlement(ANA))
    assert await cns.wait_exit() == -signal.SIGKILL
    # After the kill the CNS has the S071 journaled (and, after-commit, its S072 queued).
    before = await cns_journal(cns.db)
    assert before[0][:2] == ("in", "S071")
    await cns.start()
    await cns.wait_ready(base_url(directory, CNS))
    await wait_for(fund, "S073", MessageStatus.ACKNOWLEDGED)
    assert await cns.stop() == 0
    after = await cns_journal(cns.db)
    assert [m[:3] for m in after] == [
        ("in", "S071", "processed"),
        ("out", "S072", "acknowledged"),
        ("in", "S073", "processed"),
    ]
    assert await input_log(cns.db) == ["document", "document"]  # S071 and S073, once each
    fund_in = await fund.journal.messages(direction=Direction.IN)
    assert [(m.sed_type, m.status) for m in fund_in] == [("S072", MessageStatus.PROCESSED)]


async def test_serve_unknown_institution_exits_2_naming_it(directory_file: Path) -> None:
    proc = await eessi("serve", "--institution", "XX:NOBODY01", "--directory", str(directory_file))
    async with asyncio.timeout(30):
        _out, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"XX:NOBODY01" in err


async def test_up_prints_every_url_and_stops_cleanly_on_ctrl_c(
    directory_file: Path, tmp_path: Path
) -> None:
    directory = load_directory(directory_file)
    proc = await eessi(*up_args(directory_file, tmp_path / "dbs"))
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(30):
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await proc.stdout.readline()
            assert line, "eessi up ended early"
            lines.append(line.decode())
    text = "".join(lines)
    for ir_id in (CNS, PT, FR, "BE:MC000200", "DE:TKK00001"):
        assert ir_id in text
        assert directory.get(ir_id).endpoint in text
    assert "RS:RFZO0001" not in text  # outside EESSI: not run
    async with (
        aiohttp.ClientSession() as session,
        session.get(base_url(directory, CNS) + "/api/health") as resp,
    ):
        assert resp.status == 200
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(20):
        _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert sorted(p.name for p in (tmp_path / "dbs").glob("*.sqlite")) == [
        "BE-MC000200.sqlite",
        "DE-TKK00001.sqlite",
        "FR-CPAM5701.sqlite",
        "LU-CNS00001.sqlite",
        "PT-ISS00001.sqlite",
    ]


async def test_R17_flow_between_two_serve_processes_started_through_the_admin_api(
    directory_file: Path, tmp_path: Path
) -> None:
    directory = load_directory(directory_file)
    # One --seed for both: each mixes in its institution ID, so the CNS's S072 does not get the
    # fund's S071 document ID (which the CNS desk would refuse: the case never completed).
    cns = Serve(directory_file, CNS, tmp_path / "cns.sqlite", tmp_path / "cns.log", seed=11)
    fund = Serve(directory_file, PT, tmp_path / "pt.sqlite", tmp_path / "pt.log", seed=11)
    await cns.start()
    await fund.start()
    try:
        await cns.wait_ready(base_url(directory, CNS))
        await fund.wait_ready(base_url(directory, PT))
        api = base_url(directory, PT) + "/api"
        async with aiohttp.ClientSession() as session:
            body = {"kind": "request_entitlement", "person": ANA}
            async with session.post(api + "/requests", json=body) as resp:
                assert resp.status in (200, 201, 202), await resp.text()
            async with session.get(api + "/mock/rules") as resp:  # a mock fund: scriptable
                assert resp.status == 200, await resp.text()
            async with asyncio.timeout(40):
                while True:
                    query = "/messages?sed=S073&status=acknowledged"
                    async with session.get(api + query) as resp:
                        if (await resp.json())["items"]:
                            break
                    await asyncio.sleep(0.1)
    finally:
        assert await fund.stop() == 0
        assert await cns.stop() == 0
    assert [m[:3] for m in await cns_journal(cns.db)] == [
        ("in", "S071", "processed"),
        ("out", "S072", "acknowledged"),
        ("in", "S073", "processed"),
    ]
    assert [m[:3] for m in await cns_journal(fund.db)] == [
        ("out", "S071", "acknowledged"),
        ("in", "S072", "processed"),
        ("out", "S073", "acknowledged"),
    ]


async def test_up_makes_the_mock_funds_scriptable_mocks(
    directory_file: Path, tmp_path: Path
) -> None:
    directory = load_directory(directory_file)
    proc = await eessi(
        *up_args(directory_file, tmp_path / "dbs", "--institution", CNS, "--institution", FR)
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            while not (await proc.stdout.readline()).startswith(b"Ctrl-C"):
                pass
        fr = base_url(directory, FR) + "/api/mock"
        rule = {"id": "quiet", "match": {"sed": "S072"}, "effect": "silent"}
        async with aiohttp.ClientSession() as session:
            async with session.post(fr + "/rules", json=rule) as resp:
                assert resp.status == 201, await resp.text()
            async with session.get(fr + "/rules") as resp:
                assert resp.status == 200
                assert "quiet" in [r["id"] for r in (await resp.json())["rules"]]
            async with session.get(base_url(directory, CNS) + "/api/mock/rules") as resp:
                assert resp.status == 404  # the CNS is not a mock
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
