"""``eessi serve --journal postgresql://...`` as a real process: the CNS journals to the
session's PostgreSQL test cluster and completes an R17 flow with a Portuguese fund (in the test
process, on SQLite), shows the messages in ``/api/messages`` byte-exact, and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import load_as4
from eessi.directory import default_directory_path, load_directory
from eessi.journal import PostgresJournal, open_journal
from eessi.journal.base import Direction, MessageStatus
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import open_institution
from eessi.transport.client import RetryPolicy

CNS = "LU:CNS00001"
PT = "PT:ISS00001"
ANA = "silva-luxembourg/ana"  # the CNS insures João; his wife Ana lives in Portugal

pytestmark = pytest.mark.slow


def _directory(where: Path) -> Path:
    """The shipped directory, every endpoint on its own free loopback port, no admin URLs."""
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in pattern.findall(text):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    it = iter(ports)
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(it)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_R17_flow_with_the_cns_journaling_to_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    directory_file = _directory(tmp_path)
    directory = load_directory(directory_file)
    cns_url = directory.get(CNS).endpoint.rsplit("/", 1)[0]
    log = tmp_path / "cns.log"
    with log.open("ab") as out:
        cns = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "eessi",
            "serve",
            "--institution",
            CNS,
            "--directory",
            str(directory_file),
            "--journal",
            postgres_url,
            "--tick",
            "0",
            stdout=out,
            stderr=out,
            env={k: v for k, v in os.environ.items() if k != "EESSI_CRASH_AT"},
        )
    # eessi serve speaks secured AS4 with the PKI beside the directory file: so does the fund
    as4 = load_as4(directory, pki_dir=None, default_pki_dir=directory_file.parent / "pki")
    fund = await open_institution(
        directory.get(PT),
        directory,
        tmp_path / "pt.sqlite",
        seed=3,
        options=NodeOptions(retry=RetryPolicy(max_attempts=8, base_delay=0.3, max_delay=3.0)),
        synchronous="NORMAL",
        transport=as4_transport(as4),
    )
    await fund.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(30):  # until the CNS answers its health check
                while True:
                    assert cns.returncode is None, log.read_text()
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(cns_url + "/api/health") as resp:
                            if resp.status == 200:
                                break
                    await asyncio.sleep(0.1)
            assert "journal postgresql://postgres@127.0.0.1:" in log.read_text()
            await fund.submit(RequestEntitlement(ANA))
            async with asyncio.timeout(40):  # until the fund's S073 is acknowledged
                while True:
                    fund_out = await fund.journal.messages(direction=Direction.OUT)
                    if ("S073", MessageStatus.ACKNOWLEDGED) in {
                        (m.sed_type, m.status) for m in fund_out
                    }:
                        break
                    await asyncio.sleep(0.1)
            # The fund's receipt for its S073 means the CNS journaled it, not that it processed
            # it yet: wait (bounded) for the CNS's side to settle too.
            settled = [("S071", "processed"), ("S072", "acknowledged"), ("S073", "processed")]
            async with asyncio.timeout(30):
                while True:
                    async with session.get(cns_url + "/api/messages") as resp:
                        assert resp.status == 200, await resp.text()
                        items = (await resp.json())["items"]
                    listed = [(m["sed_type"], m["status"]) for m in items]
                    if listed == settled:
                        break
                    await asyncio.sleep(0.1)
            [sent] = [
                m
                for m in await fund.journal.messages(direction=Direction.OUT)
                if m.sed_type == "S071"
            ]
            async with session.get(f"{cns_url}/api/messages/{sent.message_id}/raw") as resp:
                assert resp.status == 200, await resp.text()
                raw = await resp.read()
    finally:
        if cns.returncode is None:
            cns.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await cns.wait()
        await fund.stop()
        await fund.journal.close()
    assert code == 0, log.read_text()
    assert listed == [("S071", "processed"), ("S072", "acknowledged"), ("S073", "processed")]
    assert raw == sent.payload  # the bytes that travelled, back from bytea
    journal = await open_journal(postgres_url)
    try:
        assert isinstance(journal, PostgresJournal)
        assert [
            (m.direction.value, m.sed_type, m.status.value) for m in await journal.messages()
        ] == [
            ("in", "S071", "processed"),
            ("out", "S072", "acknowledged"),
            ("in", "S073", "processed"),
        ]
        assert len(await journal.cases()) >= 1
    finally:
        await journal.close()


async def _serve_fails(tmp_path: Path, journal: str) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "eessi",
        "serve",
        "--institution",
        CNS,
        "--directory",
        str(_directory(tmp_path)),
        "--journal",
        journal,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _out, err = await proc.communicate()
    return proc.returncode, err.decode()


async def test_serve_journal_takes_a_postgresql_url_and_names_an_unreachable_one(
    tmp_path: Path,
) -> None:
    code, err = await _serve_fails(tmp_path, "cns.sqlite")
    assert code == 2
    assert "--journal takes a PostgreSQL URL" in err
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = await _serve_fails(tmp_path, f"postgresql://cns:s3cret@127.0.0.1:{port}/cns")
    assert code not in (0, None)
    assert f"postgresql://cns:***@127.0.0.1:{port}/cns" in err
    assert "s3cret" not in err
    assert "Traceback" not in err
