"""Benchmark: the mock fund's own processing per SED, in process, against bare parse + validate.

Run: ``.venv/bin/python bench/fund_worker.py [--messages 1000] [--runs 3] [--steps]``.

``bench/inbound.py`` measures the whole inbound hop (HTTP, AS4, journal, answer) in two
processes; on this shared machine its run-to-run spread (±0.3 ms per request) hides any change
of a few tens of µs. This bench measures the part of a mock fund's work that is the fund's
own, with the same code and at the same place: the node ``FR:CPAM5701`` of
:func:`eessi.node.network.open_institution`, a mock fund (its profile's rules and log), its
SQLite journal (``synchronous=FULL``), the collector tuned as ``eessi serve`` tunes it. Each
message is one of the bench's 256 S072 bodies (``bench/inbound.py``'s: the CNS's unasked S072,
``S_BUC_01A``, rule R14) under a fresh message and case ID, accepted into the journal before
the window; in the window, in batches of 10 as the worker takes them: the SED validated (the
accept's parse and validation), then ``Worker.process``: the SED decoded, the desk (a new case,
the person's record found and registered, the S073 or the X001), the answer built (SED encode,
the mock's rules, the version and IDs, the outbox row) and the batch's transaction committed.

Not in it: HTTP, the AS4 layer (the answer gets the legacy envelope, an HMAC; the AS4 layer's own
bench is ``bench/as4.py``), the send (the outbox row is journaled, the message not posted).

**Figures**, min / median / max over ``--runs`` rounds of ``--messages`` each (after a warm-up
round): the process's CPU per message from ``/proc`` (all threads: the journal's writer too);
the **bare baseline** in the same round, bare lxml parse + validation of the same bodies (the
work ``bench/inbound.py``'s bare server does per request), and the ratio bare / fund. With
``--steps`` the steps are also timed (thread CPU per call, ``time.thread_time``, summed over
the rounds; each wrapped call adds about 2 µs to itself and to the lines it is part of).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from exchange import cpu_seconds, write_directory  # noqa: E402
from inbound import CNS, FUND, s072_bodies  # noqa: E402

from eessi.directory import load_directory  # noqa: E402
from eessi.gc_tuning import plan_from_env  # noqa: E402
from eessi.journal.base import Direction, MessageRecord, MessageStatus  # noqa: E402
from eessi.mock.wiring import mock_controller  # noqa: E402
from eessi.node.network import open_institution  # noqa: E402
from eessi.node.steps import Item  # noqa: E402
from eessi.sed.validate import validate_or_raise  # noqa: E402
from eessi.transport.envelope import ACTION, SERVICE  # noqa: E402

#: Inputs per ``Worker.process`` call (the worker's batches under the inbound bench: ≈ 10).
BATCH = 10

#: label -> [thread CPU seconds, calls] (``--steps``).
STEPS: dict[str, list[float]] = {}


def timed(owner: Any, name: str, label: str) -> None:
    """Add up the thread CPU of ``owner.name`` per call under ``label``."""
    inner: Callable[..., Any] = getattr(owner, name)
    STEPS.setdefault(label, [0.0, 0])  # printed in the order wrapped

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            row = STEPS.setdefault(label, [0.0, 0])
            row[0] += time.thread_time() - start
            row[1] += 1

    setattr(owner, name, wrapper)


def wrap_steps(node: Any) -> None:
    import eessi.core.compact as compact
    import eessi.node.worker as worker
    from eessi.mock.interceptors import MockOutbound
    from eessi.node.outbox import Outbox
    from eessi.node.worker import Worker
    from eessi.sed.documents import Document

    timed(Worker, "handle", "one input (Worker.handle)")
    timed(worker, "from_element", "  SED decode (from_element)")
    timed(Worker, "run", "  desk (Worker.run)")
    timed(compact, "_pack", "    a case's documents packed (compact._pack)")
    timed(type(node.step_ids.base), "uuid", "    a document ID (uuid)")
    timed(Worker, "finished", "  events' JSON and answer build (Worker.finished)")
    timed(Outbox, "build", "    answer build (Outbox.build)")
    timed(Document, "to_xml", "      SED encode (Document.to_xml)")
    timed(MockOutbound, "outbound", "      mock rules (MockOutbound.outbound)")
    timed(type(node.transport), "envelope", "      envelope (legacy HMAC)")


def record(payload: bytes) -> MessageRecord:
    mid = str(uuid.uuid4())
    now = datetime.now(UTC)
    return MessageRecord(
        message_id=mid,
        direction=Direction.IN,
        sender=CNS,
        receiver=FUND,
        conversation_id=f"LU-{mid}",
        ref_to_message_id=None,
        sed_type="S072",
        sed_version="4.4",
        service=SERVICE,
        action=ACTION,
        created_at=now,
        envelope=b"",
        payload=payload,
        status=MessageStatus.RECEIVED,
        received_at=now,
    )


async def fund_round(node: Any, bodies: list[bytes], n: int, start: int) -> float:
    """CPU per message (s) of ``n`` messages through validation and ``Worker.process``."""
    records = [record(bodies[(start + i) % len(bodies)]) for i in range(n)]
    for rec in records:
        await node.journal.accept_inbound(rec)
    pid = os.getpid()
    before = cpu_seconds(pid)
    for j in range(0, n, BATCH):
        items = [
            Item("inbound", rec, validate_or_raise(rec.payload).root)
            for rec in records[j : j + BATCH]
        ]
        await node.worker.process(items)
    return (cpu_seconds(pid) - before) / n


def bare_round(bodies: list[bytes], n: int) -> float:
    """CPU per message (s) of bare lxml parse + validation of the same bodies."""
    pid = os.getpid()
    before = cpu_seconds(pid)
    for i in range(n):
        validate_or_raise(bodies[i % len(bodies)])
    return (cpu_seconds(pid) - before) / n


def three(values: list[float], scale: float = 1e6) -> str:
    return " / ".join(
        f"{v * scale:,.0f}" for v in (min(values), statistics.median(values), max(values))
    )


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-fund-worker-"))
    directory = load_directory(write_directory(work))
    node = await open_institution(
        directory.get(FUND), directory, work / "fund.sqlite", synchronous="FULL"
    )
    mock_controller(directory).attach(node)
    await node.start()
    plan_from_env().apply()

    def dropped(_record: MessageRecord, _due: datetime | None, *, retry: bool) -> None:
        node.add_busy(-1)  # journaled as queued; not posted (see the module docstring)

    node.outbox.schedule = dropped
    bodies = s072_bodies(256)
    fund: list[float] = []
    bare: list[float] = []
    try:
        await fund_round(node, bodies, min(args.messages, 200), 0)  # warm-up
        bare_round(bodies, 200)
        if args.steps:
            wrap_steps(node)
        for run in range(args.runs):
            fund.append(await fund_round(node, bodies, args.messages, run * args.messages))
            bare.append(bare_round(bodies, max(args.messages, 3000)))  # /proc ticks: 10 ms
        processed = node.stats.get("processed", 0)
        expected = min(args.messages, 200) + args.runs * args.messages
    finally:
        await node.stop()
        await node.journal.close()
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load average {load:.1f}; mock fund {FUND} in process"
        f" (SQLite synchronous=FULL, {gc.get_threshold()[0]} young threshold)"
    )
    print(f"  {args.runs} rounds of {args.messages} S072s (min / median / max)")
    print(f"  fund, validate + Worker.process   CPU/message {three(fund)} us")
    print(f"  bare lxml parse + validate        CPU/message {three(bare)} us")
    ratios = [b / f for b, f in zip(bare, fund, strict=True)]
    print(f"  ratio bare CPU / fund CPU          {' / '.join(f'{r:.3f}' for r in sorted(ratios))}")
    print(f"  processed {processed} of {expected} (every S072 answered: S073, or X001)")
    if STEPS:
        answers = args.runs * args.messages
        print("  steps, thread CPU per message (indented: part of the line above it):")
        for label, (seconds, calls) in STEPS.items():
            print(
                f"    {label:52s} {seconds / answers * 1e6:7.1f} us  ({calls / answers:.2f} calls)"
            )
    if processed != expected:
        raise SystemExit("not every message was processed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="S072s per round")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", action="store_true", help="time the steps too")
    asyncio.run(main(parser.parse_args()))
