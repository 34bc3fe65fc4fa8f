"""One institution, many processes (issue 17): three ``eessi serve --shared`` processes of the
CNS share one PostgreSQL journal and one port, each owning a share of the CNS's partitions
(households by hash, eessi.node.partitions); the Portuguese mock fund (its own process, on
SQLite) opens cases at them. Under that load one of the three is killed with SIGKILL; the two
others take its partitions over, and at the end every case is complete with nothing lost and
nothing done twice, counted in both journals; the work was shared (every process processed
inputs of its own partitions).

Who owns which partition is what the journal's ``partitions`` table names (host:pid). Every
wait is bounded generously for a loaded machine; nothing here times performance.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from serve_process import call
from serve_support import (
    CNS,
    PT,
    Serve,
    listed,
    spouse,
    until,
    write_directory,
    write_households,
)

from eessi.journal import open_journal
from eessi.journal.base import Direction, MessageStatus
from eessi.node.partitions import PARTITIONS
from eessi.node.records import INPUT_LOG

pytestmark = pytest.mark.slow

CASES = 60
PROCESSES = 3


async def owners(url: str) -> dict[int, tuple[int, int]]:
    """Partition -> (epoch, pid) of its owner, from the journal's ``partitions`` table."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT part, epoch, holder FROM partitions WHERE institution = $1", CNS
        )
    finally:
        await conn.close()
    return {int(r["part"]): (int(r["epoch"]), int(r["holder"].rsplit(":", 1)[1])) for r in rows}


async def count_processed_s071(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction = 'in' AND sed_type = 'S071'"
                " AND status = 'processed'"
            )
        )
    finally:
        await conn.close()


async def test_kill_9_of_one_of_three_cns_processes_under_load_loses_nothing_doubles_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    directory = write_directory(tmp_path)
    households = str(write_households(tmp_path, CASES))
    patient = ("--retry-attempts", "30", "--retry-delay", "0.2", "--households", households)
    cnss = [
        Serve(directory, CNS, postgres_url, tmp_path / f"cns{i}.log", "--shared", *patient)
        for i in range(PROCESSES)
    ]
    fund = Serve(directory, PT, tmp_path / "pt.sqlite", tmp_path / "pt.log", *patient)
    for cns in cnss:
        await cns.start()
    await fund.start()
    killed: Serve | None = None
    try:
        for cns in cnss:  # all listen on the CNS's one port (SO_REUSEPORT)
            await until(lambda c=cns: _listening(c), f"{cns.log.name} listens")
        await fund.wait_ready()

        pids = {c.proc.pid for c in cnss if c.proc is not None}

        async def shared() -> bool:  # every partition owned, evenly (8 over 3: 3, 3, 2)
            now = await owners(postgres_url)
            each = Counter(pid for _, pid in now.values())
            return len(now) == PARTITIONS and set(each) == pids and max(each.values()) <= 3

        await until(shared, f"the {PROCESSES} CNS processes share the {PARTITIONS} partitions")
        first = await owners(postgres_url)
        async with aiohttp.ClientSession() as session:
            body = [{"kind": "request_entitlement", "person": spouse(n)} for n in range(CASES)]
            status, answer = await call(session, "POST", fund.url + "/api/requests/batch", body)
            assert status == 202, answer
            assert answer["accepted"] == CASES

            async def under_way() -> bool:
                return await count_processed_s071(postgres_url) >= CASES // 6

            await until(under_way, "the CNS processes the first S071s")
            victim = first[0][1]  # the owner of partition 0
            (killed,) = [c for c in cnss if c.proc is not None and c.proc.pid == victim]
            lost = {k for k, (_, pid) in first.items() if pid == victim}
            code, _ = await killed.terminate(signal.SIGKILL)
            assert code == -signal.SIGKILL
            assert not await _cns_settled(postgres_url)  # killed under load, cases open

            async def taken_over() -> bool:
                now = await owners(postgres_url)
                return all(now[k][0] > first[k][0] and now[k][1] != victim for k in lost)

            await until(taken_over, f"the others take partitions {sorted(lost)} over")

            async def complete() -> bool:
                done = await listed(session, fund, "sed=S073&direction=out&status=acknowledged")
                return len(done) == CASES

            await until(complete, f"all {CASES} cases complete", bound=180)
            # the CNS's side settled too: every S073 processed
            await until(
                lambda: _cns_settled(postgres_url), "the CNS processes every S073", bound=60
            )
    finally:
        for cns in cnss:
            if cns is not killed:
                code, _ = await cns.terminate()
                assert code == 0, cns.output()
        await fund.terminate()
    second = await owners(postgres_url)
    assert victim not in {pid for _, pid in second.values()}

    journal = await open_journal(postgres_url)
    try:
        cns_messages = await journal.messages()
        inputs = await journal.case_events(INPUT_LOG)  # every partition's input log
    finally:
        await journal.close()
    fund_messages = await fund.messages()
    by = Counter((m.direction, m.sed_type, m.status) for m in cns_messages)
    # 0 lost: every S071 the fund sent and every S073 processed, every S072 acknowledged
    assert by[(Direction.IN, "S071", MessageStatus.PROCESSED)] == CASES, by
    assert by[(Direction.IN, "S073", MessageStatus.PROCESSED)] == CASES, by
    assert by[(Direction.OUT, "S072", MessageStatus.ACKNOWLEDGED)] == CASES, by
    assert sum(by.values()) == 3 * CASES, by  # nothing else: no failure, no refusal
    # 0 doubled: one S072 per case; each inbound message an input of the desk once
    s072_cases = Counter(m.conversation_id for m in cns_messages if m.sed_type == "S072")
    assert len(s072_cases) == CASES
    assert set(s072_cases.values()) == {1}
    logged = Counter(e.message_id for e in inputs if e.message_id is not None)
    assert len(logged) == 2 * CASES
    assert set(logged.values()) == {1}
    # and the fund saw each S072 once, all processed
    fund_s072 = Counter(
        m.message_id
        for m in fund_messages
        if m.direction is Direction.IN
        and m.sed_type == "S072"
        and m.status is MessageStatus.PROCESSED
    )
    assert len(fund_s072) == CASES
    # the partitions followed the households: each case's messages in one partition
    conn = await asyncpg.connect(postgres_url)
    try:
        spread = await conn.fetch(
            "SELECT conversation_id, count(DISTINCT part) AS parts, min(part) AS part"
            " FROM messages GROUP BY conversation_id"
        )
    finally:
        await conn.close()
    assert {r["parts"] for r in spread} == {1}
    used = Counter(r["part"] for r in spread)
    assert len(used) > 1, used  # the cases are spread over the partitions
    print(
        f"\nshared CNS, {PROCESSES} processes, one killed (partitions {sorted(lost)} taken over):"
        f" {CASES} cases over {len(used)} partitions, 0 lost, 0 doubled"
    )


async def _listening(cns: Serve) -> bool:
    assert cns.proc is not None
    if cns.proc.returncode is not None:
        raise AssertionError(f"{cns.log.name} exited: {cns.output()}")
    return "listening on" in cns.output()


async def _cns_settled(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE direction = 'in' AND sed_type = 'S073'"
            " AND status = 'processed'"
        )
    finally:
        await conn.close()
    return int(n) == CASES
