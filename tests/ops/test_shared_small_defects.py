"""Two small defects of ``eessi serve --shared`` (issue 17), on real processes and a real
PostgreSQL server:

* refusals before authentication, arriving at two processes of one institution at once, are
  all journaled under the ``~refused`` pseudo case (no two take the same sequence number, none
  answers a server error);
* the SIGTERM drain of a shared process reports what its institution left in flight: the sum
  over the partitions the process owned, not one partition's count.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path

import aiohttp
import pytest
from serve_process import call
from serve_support import CNS, Serve, until, write_directory, write_households

from eessi.journal import open_journal
from eessi.node.records import REFUSED_LOG

pytestmark = pytest.mark.slow

BURST = 18  # under the refusal burst of a peer address (20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shared_cns(tmp_path: Path, url: str, name: str, *args: str) -> Serve:
    cns = Serve(
        write_directory(tmp_path) if not (tmp_path / "directory.toml").exists()
        else tmp_path / "directory.toml",
        CNS, url, tmp_path / f"{name}.log", "--shared", "--partitions", "4", *args,
    )  # fmt: skip
    return cns


async def test_refusals_at_two_processes_at_once_are_all_journaled(
    tmp_path: Path, postgres_url: str
) -> None:
    ports = [free_port(), free_port()]
    nodes = [
        shared_cns(tmp_path, postgres_url, f"cns{i}", "--port", str(p)) for i, p in enumerate(ports)
    ]
    for node, port in zip(nodes, ports, strict=True):
        node.url = f"http://127.0.0.1:{port}"
        await node.start()
    try:
        for node in nodes:
            await node.wait_ready()
        garbage = b"<not-an-as4-message/>"
        headers = {"Content-Type": "application/soap+xml"}
        async with aiohttp.ClientSession() as session:

            async def send(url: str) -> int:
                async with session.post(url + "/as4", data=garbage, headers=headers) as resp:
                    await resp.read()
                    return resp.status

            statuses = await asyncio.gather(
                *(send(node.url) for _ in range(BURST) for node in nodes)
            )
        assert all(s < 500 for s in statuses), statuses  # refused, not a server error
    finally:
        for node in nodes:
            code, _ = await node.terminate()
            assert code == 0, node.output()
    journal = await open_journal(postgres_url)
    try:
        refused = await journal.case_events(REFUSED_LOG)
    finally:
        await journal.close()
    assert len(refused) == 2 * BURST  # every one journaled
    assert len({e.seq for e in refused}) == 2 * BURST  # one sequence, no number taken twice
    for node in nodes:
        assert "journal.locked" not in node.output()


async def test_drain_of_a_shared_process_reports_every_partition_in_flight(
    tmp_path: Path, postgres_url: str
) -> None:
    """Four S072s to a fund that is down, in several partitions: the drain bound reached, the
    process reports all four left in flight for its institution (D199)."""
    households = str(write_households(tmp_path, 4))
    for n in range(4):  # each main insured a cross-border worker living in Portugal
        path = Path(households) / f"ops-{n:05d}.json"
        data = json.loads(path.read_text("utf-8"))
        data["main_insured"][0]["country_of_residence"] = "PT"
        path.write_text(json.dumps(data), "utf-8")
    cns = shared_cns(
        tmp_path, postgres_url, "cns", "--households", households, "--retry-attempts", "50",
        "--retry-delay", "0.2", "--drain-timeout", "1", "--log-format", "json",
    )  # fmt: skip
    await cns.start()
    try:
        await until(lambda: _listening(cns), "the CNS listens")
        await cns.wait_ready()
        async with aiohttp.ClientSession() as session:
            for n in range(4):  # the Portuguese fund is not running: each S072 is retried
                status, answer = await call(
                    session,
                    "POST",
                    cns.url + "/api/requests",
                    {"kind": "issue_entitlement", "person": f"ops-{n:05d}/main"},
                )
                assert status == 202, answer
    finally:
        code, _ = await cns.terminate(signal.SIGTERM)
    assert code == 0, cns.output()
    drained = [
        json.loads(line)
        for line in cns.output().splitlines()
        if line.startswith("{") and '"event":"drained"' in line
    ]
    assert len(drained) == 1, cns.output()
    assert drained[0]["complete"] is False
    assert drained[0]["left"] == {CNS: 4}  # the institution's four, whichever partitions
    from eessi.node.partitions import partition_of

    assert len({partition_of(f"ops-{n:05d}", 4) for n in range(4)}) > 1  # several partitions


async def _listening(cns: Serve) -> bool:
    assert cns.proc is not None
    if cns.proc.returncode is not None:
        raise AssertionError(f"{cns.log.name} exited: {cns.output()}")
    return "listening on" in cns.output()
