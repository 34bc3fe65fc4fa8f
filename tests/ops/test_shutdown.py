"""SIGTERM drains in-flight sends within a bound (issue 15, operations), on real processes.

The CNS and the Portuguese mock fund run as two ``eessi serve`` processes. A fund rule holds
the first delivery of each S072 (the CNS's answer) before refusing it, so that when SIGTERM
reaches the CNS its answers are on the wire or waiting for their retry:

* with a drain bound longer than that, the CNS finishes them before it exits: every S072
  acknowledged, the fund holds each once;
* with a bound shorter than the fund's hold, the CNS exits at the bound (code 0) with its answers
  still journaled as in flight, and a restart delivers each exactly once: nothing lost.

Bounds are generous for a loaded machine; nothing here times performance.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import aiohttp
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

from eessi.journal.base import Direction, MessageStatus

pytestmark = pytest.mark.slow

CASES = 6
IN_FLIGHT = {"queued", "sending", "waiting_for_receipt", "retrying"}


def hold_s072(seconds: float, times: int) -> dict[str, object]:
    """A fund rule: the first ``times`` deliveries of an S072 in each case are held ``seconds``,
    then refused (503): the sender retries."""
    return {
        "id": "hold-s072",
        "match": {"sed": "S072"},
        "effect": {"kind": "fail", "mode": "timeout", "seconds": seconds, "times": times},
    }


async def start_pair(tmp_path: Path, *cns_args: str) -> tuple[Serve, Serve]:
    directory = write_directory(tmp_path)
    households = str(write_households(tmp_path, CASES))
    cns = Serve(
        directory, CNS, tmp_path / "cns.sqlite", tmp_path / "cns.log",
        "--seed", "11", "--retry-attempts", "20", "--retry-delay", "0.2",
        "--households", households, *cns_args,
    )  # fmt: skip
    fund = Serve(
        directory, PT, tmp_path / "pt.sqlite", tmp_path / "pt.log",
        "--seed", "11", "--drain-timeout", "0", "--households", households,
    )  # fmt: skip
    await cns.start()
    await fund.start()
    await cns.wait_ready()
    await fund.wait_ready()
    return cns, fund


async def requests_in_flight(session: aiohttp.ClientSession, cns: Serve, fund: Serve) -> None:
    """The fund asks for :data:`CASES` S072s; returns once the CNS journaled every answer and
    none is acknowledged yet (the fund holds them)."""
    body = [{"kind": "request_entitlement", "person": spouse(n)} for n in range(CASES)]
    status, answer = await call(session, "POST", fund.url + "/api/requests/batch", body)
    assert status == 202, answer
    assert answer["accepted"] == CASES, answer

    async def answered() -> bool:
        return len(await listed(session, cns, "sed=S072&direction=out")) == CASES

    await until(answered, f"the CNS journals {CASES} S072")
    out = await listed(session, cns, "sed=S072&direction=out")
    assert {m["status"] for m in out} <= IN_FLIGHT, out  # all on their way, none arrived


async def test_sigterm_drains_the_answers_in_flight_before_exiting(tmp_path: Path) -> None:
    cns, fund = await start_pair(tmp_path, "--drain-timeout", "40")
    try:
        async with aiohttp.ClientSession() as session:
            status, rule = await call(
                session, "POST", fund.url + "/api/mock/rules", hold_s072(1.5, 1)
            )
            assert status == 201, rule
            await requests_in_flight(session, cns, fund)
            code, _seconds = await cns.terminate(signal.SIGTERM)
            assert code == 0, cns.output()
            assert "drained in" in cns.output()

            async def fund_processed() -> bool:
                got = await listed(session, fund, "sed=S072&direction=in&status=processed")
                return len(got) == CASES

            await until(fund_processed, "the fund processes every S072")
    finally:
        await cns.terminate()
        await fund.terminate()
    cns_out = [m for m in await cns.messages() if m.sed_type == "S072"]
    assert len(cns_out) == CASES
    assert {m.status for m in cns_out} == {MessageStatus.ACKNOWLEDGED}  # drained, none pending
    fund_in = [m for m in await fund.messages() if m.direction is Direction.IN]
    s072 = Counter(m.message_id for m in fund_in if m.sed_type == "S072")
    assert sorted(s072) == sorted(m.message_id for m in cns_out)  # each answer arrived ...
    assert set(s072.values()) == {1}  # ... once


async def test_sigterm_stops_at_the_drain_bound_and_a_restart_delivers_the_rest_once(
    tmp_path: Path,
) -> None:
    cns, fund = await start_pair(tmp_path, "--drain-timeout", "2")
    try:
        async with aiohttp.ClientSession() as session:
            held = hold_s072(30.0, 100)  # the fund holds every delivery far beyond the bound
            status, rule = await call(session, "POST", fund.url + "/api/mock/rules", held)
            assert status == 201, rule
            await requests_in_flight(session, cns, fund)
            code, seconds = await cns.terminate(signal.SIGTERM)
            assert code == 0, cns.output()
            # the bound (2 s) plus the stop, not the fund's 30 s hold: the drain gave up
            assert seconds < 20, seconds
            assert "drain bound of 2 s reached" in cns.output()
            pending = [m for m in await cns.messages() if m.sed_type == "S072"]
            assert len(pending) == CASES  # nothing lost: every answer is still in the outbox
            assert {m.status.value for m in pending} <= IN_FLIGHT, pending

            status, _ = await call(session, "DELETE", fund.url + "/api/mock/rules/hold-s072")
            assert status in (200, 204)
            await cns.start()  # the same journal: the outbox is sent again
            await cns.wait_ready()

            async def delivered() -> bool:
                got = await listed(session, cns, "sed=S072&direction=out&status=acknowledged")
                return len(got) == CASES

            await until(delivered, "the restarted CNS delivers every S072")
    finally:
        await cns.terminate()
        await fund.terminate(signal.SIGKILL)  # its held requests would keep it 30 s
    fund_in = [m for m in await fund.messages() if m.direction is Direction.IN]
    s072 = Counter(m.message_id for m in fund_in if m.sed_type == "S072")
    assert len(s072) == CASES
    assert set(s072.values()) == {1}
    assert sorted(s072) == sorted(m.message_id for m in pending)
