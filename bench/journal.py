"""Journal throughput: committed inbound messages per second, against a bare sqlite3 loop.

Run: ``python bench/journal.py [N]``. For ``synchronous`` FULL and NORMAL (both in WAL mode):

* **bare sqlite3**: the same row (about 4 KB of payload) inserted and committed one at a time
  with the standard library, no asyncio: the floor any journal pays for one durable commit.
* **accept_inbound, one at a time**: each call awaited before the next (one commit each).
* **accept_inbound, bursts of 32**: 32 arrivals at once share a group commit.
* **transaction**: one processed message = 2 events + a snapshot + one outbox row + mark
  processed, in one commit.
* **set_status / update_status, bursts of 32**: outbound messages moved to ``sending`` 32 at
  a time (a group commit each); ``set_status`` reads the whole record back (both blobs),
  ``update_status`` only the changed fields (proposal P2).
* **reads** (against their own baseline, **bare sqlite3 select**: one record by message ID
  with the standard library, no asyncio): ``message()`` one at a time, ``message()`` 32 at
  once, and ``message()`` one at a time while bursts of ``accept_inbound`` commit beside it
  (reads must not wait for the writer's fsyncs).

``python bench/journal.py --life [N]`` instead: the life of ``N`` outbound messages of AS4
size (the whole ~10 KB MIME package stored as the envelope): queued in transactions of 32,
then ``sending`` and ``acknowledged`` in bursts of 32; the process's CPU (all threads, from
/proc via ``time.process_time``) and the bytes it wrote (``wchar`` of /proc/self/io: WAL and
checkpoints) per message, min / median / max of 3 runs, against bare sqlite3 doing the same
with the whole record in one row (how the journal stored it before schema version 3, D176).

``python bench/journal.py --case [N]``: what the CNS journals for ``N`` cases (the S071
accepted, one transaction with its events, snapshot, the S072 queued and the S071 marked, the
S072's send attempt journaled once, as acknowledged through sending: D240), 20 cases at a
time: the event loop's CPU (this thread's, ``time.thread_time``) and the whole process's per
case, min / median / max of 3 runs.

``python bench/journal.py --growth [SIZES]`` (sizes in cases, comma-separated, default
1000,4000,16000): one journal grown case by case (:func:`one_case` with random message and case
IDs, as peers send them), and at each size 3 windows of 500 cases: the journal writer thread's
CPU (``schedstat`` of its task) and the KB written per case, min / median / max, against the
first size's median in the same run. It shows what a long-running node's writer pays as its
journal grows: the random-key indexes' leaves that every WAL checkpoint copies back (grow
section of docs/performance.md, 2026-12-07 00:00).

Each line prints rows (or transactions) per second, the median (min-max) of interleaved rounds,
and the ratio of the medians to the bare loop measured in the same run. No assertion: speed
goals live here, not in the tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from eessi.journal import Direction, MessageRecord, MessageStatus, SqliteJournal
from eessi.journal.rows import message_params
from eessi.journal.statements import COLUMNS, MESSAGES, SQLITE

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: The bare baseline's insert: the whole record in one row of its own table.
BARE_INSERT = (
    f"INSERT INTO messages ({COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS.split(',')))})"
)
PAYLOAD = (b"<S071>" + b"x" * 4000 + b"</S071>\r\n")[:4096]

BASE = MessageRecord(
    message_id="m",
    direction=Direction.IN,
    sender="FR:CPAM5701",
    receiver="LU:CNS00001",
    conversation_id="LU-CASE",
    ref_to_message_id=None,
    sed_type="S071",
    sed_version="4.4",
    service="BusinessMessaging",
    action="Send",
    created_at=T0,
    received_at=T0,
    envelope=b"<Envelope/>" * 40,
    payload=PAYLOAD,
    status=MessageStatus.RECEIVED,
)


def record(i: int, prefix: str = "m", direction: Direction = Direction.IN) -> MessageRecord:
    status = MessageStatus.RECEIVED if direction is Direction.IN else MessageStatus.QUEUED
    return replace(
        BASE,
        message_id=f"{prefix}{i:08d}",
        conversation_id=f"LU-{i:08d}",
        direction=direction,
        status=status,
    )


def bare(path: Path, n: int, synchronous: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"CREATE TABLE messages (seq INTEGER PRIMARY KEY, {COLUMNS})")
    conn.execute("CREATE UNIQUE INDEX u ON messages (direction, message_id)")
    rows = [message_params(record(i), SQLITE) for i in range(n)]
    start = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(BARE_INSERT, row)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def one_at_a_time(path: Path, n: int, synchronous: str) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        records = [record(i) for i in range(n)]
        start = time.perf_counter()
        for r in records:
            await j.accept_inbound(r)
        return n / (time.perf_counter() - start)


async def bursts(path: Path, n: int, synchronous: str, size: int = 32) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        records = [record(i) for i in range(n)]
        start = time.perf_counter()
        for k in range(0, n, size):
            await asyncio.gather(*(j.accept_inbound(r) for r in records[k : k + size]))
        return n / (time.perf_counter() - start)


async def transactions(path: Path, n: int, synchronous: str) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        for k in range(0, n, 32):
            await asyncio.gather(*(j.accept_inbound(record(i)) for i in range(k, min(n, k + 32))))
        start = time.perf_counter()
        for i in range(n):
            case = f"LU-{i:08d}"
            async with j.transaction() as tx:
                await tx.append_events(
                    case, [("received", {"sed": "S071"}), ("answered", {"sed": "S072"})], at=T0
                )
                await tx.save_case(case, {"state": "answered", "members": ["a", "b"]}, at=T0)
                await tx.enqueue_outbound(record(i, "o", Direction.OUT))
                await tx.mark_processed(f"m{i:08d}", at=T0)
        return n / (time.perf_counter() - start)


async def _statuses(path: Path, n: int, synchronous: str, full: bool, size: int = 32) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        async with j.transaction() as tx:
            for i in range(n):
                await tx.enqueue_outbound(record(i, "o", Direction.OUT))
        write = j.set_status if full else j.update_status
        ids = [f"o{i:08d}" for i in range(n)]
        start = time.perf_counter()
        for k in range(0, n, size):
            await asyncio.gather(
                *(write(m, MessageStatus.SENDING, at=T0) for m in ids[k : k + size])
            )
        return n / (time.perf_counter() - start)


async def set_status_bursts(path: Path, n: int, synchronous: str) -> float:
    return await _statuses(path, n, synchronous, full=True)


async def update_status_bursts(path: Path, n: int, synchronous: str) -> float:
    return await _statuses(path, n, synchronous, full=False)


async def _fill(j: SqliteJournal, n: int) -> list[str]:
    for k in range(0, n, 32):
        await asyncio.gather(*(j.accept_inbound(record(i)) for i in range(k, min(n, k + 32))))
    return [f"m{i:08d}" for i in range(n)]


def bare_read(path: Path, n: int, synchronous: str) -> float:
    async def fill() -> None:
        async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
            await _fill(j, n)

    asyncio.run(fill())
    conn = sqlite3.connect(path, isolation_level=None)
    sql = f"SELECT {COLUMNS} FROM {MESSAGES} WHERE message_id = ?"
    ids = [f"m{i:08d}" for i in range(n)]
    start = time.perf_counter()
    for m in ids:
        conn.execute(sql, (m,)).fetchall()
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def reads_one_at_a_time(path: Path, n: int, synchronous: str) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        ids = await _fill(j, n)
        start = time.perf_counter()
        for m in ids:
            await j.message(m)
        return n / (time.perf_counter() - start)


async def reads_32_at_once(path: Path, n: int, synchronous: str, size: int = 32) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        ids = await _fill(j, n)
        start = time.perf_counter()
        for k in range(0, n, size):
            await asyncio.gather(*(j.message(m) for m in ids[k : k + size]))
        return n / (time.perf_counter() - start)


async def reads_beside_writes(path: Path, n: int, synchronous: str) -> float:
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        ids = await _fill(j, n)
        done = asyncio.Event()

        async def write() -> None:
            i = 0
            while not done.is_set():
                batch = [record(n + i + k, "w") for k in range(32)]
                await asyncio.gather(*(j.accept_inbound(r) for r in batch))
                i += 32

        writer = asyncio.create_task(write())
        start = time.perf_counter()
        for m in ids:
            await j.message(m)
        elapsed = time.perf_counter() - start
        done.set()
        await writer
        return n / elapsed


#: An AS4 user message as the journal stores it: the whole MIME package (about 10 KB here).
AS4_ENVELOPE = b"--MIMEBoundary\r\n" + bytes(range(256)) * 40


def _written() -> int:
    """Bytes this process has written so far (``wchar`` of /proc/self/io: WAL, checkpoints)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def bare_life(path: Path, n: int, synchronous: str, size: int = 32) -> tuple[float, float]:
    """The baseline of :func:`message_life`: bare sqlite3, the whole record in one row (as the
    journal stored it before schema 3), the same groups of ``size``, one commit each."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"CREATE TABLE messages (seq INTEGER PRIMARY KEY, {COLUMNS})")
    conn.execute("CREATE UNIQUE INDEX u ON messages (direction, message_id)")
    rows = [
        message_params(replace(record(i, "o", Direction.OUT), envelope=AS4_ENVELOPE), SQLITE)
        for i in range(n)
    ]
    update = "UPDATE messages SET status = ?, attempts = 1, updated_at = ? WHERE message_id = ?"
    cpu, written = time.process_time(), _written()
    for k in range(0, n, size):
        group = rows[k : k + size]
        for status in (None, "sending", "acknowledged"):
            conn.execute("BEGIN IMMEDIATE")
            for row in group:
                if status is None:
                    conn.execute(BARE_INSERT, row)
                else:
                    conn.execute(update, (status, row[18], row[0]))
            conn.execute("COMMIT")
    cpu, written = time.process_time() - cpu, _written() - written
    conn.close()
    return cpu / n * 1e6, written / n / 1000


async def message_life(path: Path, n: int, synchronous: str, size: int = 32) -> tuple[float, float]:
    """``n`` outbound messages of AS4 size (:data:`AS4_ENVELOPE`): queued ``size`` at a time in
    one transaction, then moved to ``sending`` and to ``acknowledged`` (``update_status``, a
    burst of ``size`` each: a group commit). Returns the process's CPU (every thread) in µs
    and the KB it wrote, per message."""
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        records = [replace(record(i, "o", Direction.OUT), envelope=AS4_ENVELOPE) for i in range(n)]
        cpu, written = time.process_time(), _written()
        for k in range(0, n, size):
            group = records[k : k + size]
            async with j.transaction() as tx:
                for r in group:
                    await tx.enqueue_outbound(r)
            for status in (MessageStatus.SENDING, MessageStatus.ACKNOWLEDGED):
                await asyncio.gather(*(j.update_status(r.message_id, status, at=T0) for r in group))
        cpu, written = time.process_time() - cpu, _written() - written
    return cpu / n * 1e6, written / n / 1000


def life(n: int, tmp: str, runs: int = 3) -> None:
    """Print :func:`message_life` against :func:`bare_life`: min/median/max of ``runs``."""
    print(
        f"  message life, AS4-sized ({len(AS4_ENVELOPE) // 1000} KB package): queued, sending,"
        f" acknowledged; {runs} interleaved runs, min / median / max"
    )
    for sync in ("FULL", "NORMAL"):
        bare_runs, journal_runs = [], []
        for r in range(runs):
            bare_runs.append(bare_life(Path(tmp) / f"life-bare-{sync}-{r}.sqlite", n, sync))
            journal_runs.append(
                asyncio.run(message_life(Path(tmp) / f"life-{sync}-{r}.sqlite", n, sync))
            )
        for label, values in (("bare sqlite3, one row", bare_runs), ("journal", journal_runs)):
            cpu = sorted(v[0] for v in values)
            kb = sorted(v[1] for v in values)
            print(
                f"    {sync:<6} {label:<22} CPU {cpu[0]:5.0f} / {statistics.median(cpu):5.0f} /"
                f" {cpu[-1]:5.0f} µs per message, written {kb[0]:5.1f} /"
                f" {statistics.median(kb):5.1f} / {kb[-1]:5.1f} KB"
            )
        ratio = statistics.median(v[0] for v in bare_runs) / statistics.median(
            v[0] for v in journal_runs
        )
        print(f"    {sync:<6} CPU ratio bare / journal (medians) {ratio:5.2f}")


#: A case's events at the CNS (the shape the desk writes: kinds and small data).
CASE_EVENTS = [
    ("document-received", {"sed": "S071", "document": "x" * 40}),
    ("state-changed", {"from": "opened", "to": "answered"}),
    ("document-sent", {"sed": "S072", "document": "y" * 40}),
    ("deadline-set", {"at": "2026-02-01"}),
    ("member-checked", {"pin": "1234567890", "result": "insured"}),
    ("reply-queued", {"copies": 1}),
]
CASE_STATE = {
    "state": "answered",
    "members": [{"pin": "1234567890", "name": "a"}, {"pin": "0987654321", "name": "b"}],
    "documents": ["d" * 36] * 3,
}


async def one_case(j: SqliteJournal, i: int) -> None:
    """What the CNS journals for one case: the S071 accepted, the batch's transaction (an
    input-log entry, the case's events and snapshot, the S072 queued, the S071 marked), the
    S072's attempt journaled once: acknowledged, through sending (D240)."""
    case_id = f"LU-{i:08d}"
    inbound = replace(record(i), envelope=AS4_ENVELOPE)
    await j.accept_inbound(inbound)
    async with j.transaction() as tx:
        await tx.append_event("~inputs", "input", {"n": i}, at=T0, message_id=inbound.message_id)
        await tx.append_events(case_id, CASE_EVENTS, at=T0, message_id=inbound.message_id)
        await tx.save_case(case_id, CASE_STATE, at=T0)
        await tx.enqueue_outbound(replace(record(i, "o", Direction.OUT), envelope=AS4_ENVELOPE))
        await tx.mark_processed(inbound.message_id, at=T0)
    await j.update_status(f"o{i:08d}", MessageStatus.ACKNOWLEDGED, at=T0, attempt_at=T0)


async def cases(
    path: Path, n: int, synchronous: str, size: int = 20
) -> tuple[float, float, float, float]:
    """``n`` cases, ``size`` at a time: the event loop's CPU (``time.thread_time`` of this
    thread) and the whole process's (writer and reader threads too), µs per case; the KB
    written (WAL frames and checkpoints, ``wchar``) per case and per commit."""
    async with await SqliteJournal.open(path, synchronous=synchronous) as j:  # type: ignore[arg-type]
        commits, written = j.stats.commits, _written()
        loop, cpu = time.thread_time(), time.process_time()
        for k in range(0, n, size):
            await asyncio.gather(*(one_case(j, i) for i in range(k, min(n, k + size))))
        loop, cpu = time.thread_time() - loop, time.process_time() - cpu
        commits, written = j.stats.commits - commits, _written() - written
    return loop / n * 1e6, cpu / n * 1e6, written / n / 1000, written / max(commits, 1) / 1000


def per_case(n: int, tmp: str, runs: int = 3) -> None:
    """Print :func:`cases`, min / median / max of ``runs``, beside :func:`bare_life`."""
    print(
        f"  a case's journal ({n} cases, 20 at a time; AS4-sized messages):"
        f" CPU per case, {runs} interleaved runs, min / median / max"
    )
    for sync in ("FULL", "NORMAL"):
        values, bare_runs = [], []
        for r in range(runs):
            values.append(asyncio.run(cases(Path(tmp) / f"case-{sync}-{r}.sqlite", n, sync)))
            bare_runs.append(bare_life(Path(tmp) / f"case-bare-{sync}-{r}.sqlite", n, sync))
        for label, column, unit in (
            ("event loop", 0, "µs per case"),
            ("whole process", 1, "µs per case"),
            ("written", 2, "KB per case"),
            ("written", 3, "KB per commit"),
        ):
            v = sorted(x[column] for x in values)
            print(
                f"    {sync:<6} {label:<14} {v[0]:6.0f} / {statistics.median(v):6.0f} /"
                f" {v[-1]:6.0f} {unit}"
            )
        b = sorted(x[0] for x in bare_runs)
        print(
            f"    {sync:<6} {'bare baseline':<14} {b[0]:6.0f} / {statistics.median(b):6.0f} /"
            f" {b[-1]:6.0f} µs per message life (bare sqlite3, see --life); ratio bare /"
            f" whole case {statistics.median(b) / statistics.median(x[1] for x in values):5.2f}"
        )


async def one_random_case(j: SqliteJournal) -> None:
    """:func:`one_case` with random IDs (a peer's message IDs and case IDs are UUIDs): every
    index keyed by them takes its entry in a random leaf, as in a node's journal."""
    case_id = f"LU-{uuid.uuid4()}"
    inbound = replace(
        BASE, message_id=str(uuid.uuid4()), conversation_id=case_id, envelope=AS4_ENVELOPE
    )
    outbound = replace(
        inbound,
        message_id=str(uuid.uuid4()),
        direction=Direction.OUT,
        status=MessageStatus.QUEUED,
        ref_to_message_id=inbound.message_id,
    )
    await j.accept_inbound(inbound)
    async with j.transaction() as tx:
        await tx.append_event("~inputs", "input", {"case": case_id}, at=T0)
        await tx.append_events(case_id, CASE_EVENTS, at=T0, message_id=inbound.message_id)
        await tx.save_case(case_id, CASE_STATE, at=T0)
        await tx.enqueue_outbound(outbound)
        await tx.mark_processed(inbound.message_id, at=T0)
    await j.update_status(outbound.message_id, MessageStatus.ACKNOWLEDGED, at=T0, attempt_at=T0)


def _writer_cpu() -> float:
    """CPU seconds of this process's journal writer thread so far (its task's schedstat)."""
    for thread in threading.enumerate():
        if thread.name.startswith("eessi-journal-writer") and thread.native_id is not None:
            stat = Path(f"/proc/self/task/{thread.native_id}/schedstat").read_text()
            return int(stat.split()[0]) / 1e9
    raise RuntimeError("no journal writer thread")


async def growth_windows(
    path: Path, sizes: list[int], window: int, runs: int = 3, size: int = 20
) -> list[tuple[int, list[tuple[float, float]]]]:
    """Grow one journal to each of ``sizes`` cases; at each, ``runs`` windows of ``window``
    cases: the writer thread's CPU in µs and the KB written, per case."""
    out: list[tuple[int, list[tuple[float, float]]]] = []
    done = 0
    async with await SqliteJournal.open(path) as j:
        for target in sizes:
            while done < target:
                k = min(size, target - done)
                await asyncio.gather(*(one_random_case(j) for _ in range(k)))
                done += k
            values = []
            for _ in range(runs):
                cpu, written = _writer_cpu(), _written()
                for _ in range(0, window, size):
                    await asyncio.gather(*(one_random_case(j) for _ in range(size)))
                cpu, written = _writer_cpu() - cpu, _written() - written
                values.append((cpu / window * 1e6, written / window / 1000))
                done += window
            out.append((target, values))
    return out


def growth(sizes: list[int], tmp: str, window: int = 500) -> None:
    """Print :func:`growth_windows`: min / median / max per size, ratio to the first size."""
    print(
        f"  the journal writer's CPU per case as the journal grows ({window}-case windows,"
        " 20 cases at a time, random IDs, synchronous=FULL), min / median / max"
    )
    results = asyncio.run(growth_windows(Path(tmp) / "growth.sqlite", sizes, window))
    first = statistics.median(v[0] for v in results[0][1])
    for target, values in results:
        cpu = sorted(v[0] for v in values)
        kb = statistics.median(v[1] for v in values)
        print(
            f"    {target:>7} cases  writer {cpu[0]:5.0f} / {statistics.median(cpu):5.0f} /"
            f" {cpu[-1]:5.0f} µs per case, written {kb:5.1f} KB per case,"
            f" median / first size's {statistics.median(cpu) / first:4.2f}"
        )


def main() -> None:
    if "--growth" in sys.argv:
        at = sys.argv.index("--growth") + 1
        given = sys.argv[at] if at < len(sys.argv) else ""
        sizes = [int(x) for x in given.split(",")] if given[:1].isdigit() else []
        with tempfile.TemporaryDirectory() as tmp:
            growth(sizes or [1000, 4000, 16000], tmp)
        return
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    n = int(numbers[0]) if numbers else 300
    rounds = 5
    print(
        f"journal bench: {n} messages of ~{len(PAYLOAD) // 1000} KB payload, WAL;"
        f" median of {rounds} interleaved rounds (fsync times on a VM disk vary a lot)"
    )
    runs = [
        ("accept_inbound, one at a time", one_at_a_time, "rows/s"),
        ("accept_inbound, bursts of 32", bursts, "rows/s"),
        ("transaction (2 ev+snap+out+mark)", transactions, "tx/s  "),
        ("set_status, bursts of 32", set_status_bursts, "rows/s"),
        ("update_status, bursts of 32", update_status_bursts, "rows/s"),
    ]
    reads = [
        ("message(), one at a time", reads_one_at_a_time, "rows/s"),
        ("message(), 32 at once", reads_32_at_once, "rows/s"),
        ("message(), beside write bursts", reads_beside_writes, "rows/s"),
    ]

    def spread(values: list[float]) -> str:
        return f"({min(values):6.0f}-{max(values):6.0f})"

    with tempfile.TemporaryDirectory() as tmp:
        if "--life" in sys.argv:
            life(n, tmp)
            return
        if "--case" in sys.argv:
            per_case(n, tmp)
            return
        for sync in ("FULL", "NORMAL"):
            rates: dict[str, list[float]] = {"bare": [], "bare read": []}
            for r in range(rounds):
                rates["bare"].append(bare(Path(tmp) / f"bare-{sync}-{r}.sqlite", n, sync))
                rates["bare read"].append(
                    bare_read(Path(tmp) / f"bare-read-{sync}-{r}.sqlite", n, sync)
                )
                for label, fn, _ in runs + reads:
                    path = Path(tmp) / f"{fn.__name__}-{sync}-{r}.sqlite"
                    rates.setdefault(label, []).append(asyncio.run(fn(path, n, sync)))
            print(f"  synchronous={sync}")
            for base_label, base_key, group in (
                ("bare sqlite3 insert+commit", "bare", runs),
                ("bare sqlite3 select", "bare read", reads),
            ):
                base = statistics.median(rates[base_key])
                print(
                    f"    {base_label:<33} {base:9.0f} rows/s {spread(rates[base_key])}"
                    "   (baseline)"
                )
                for label, _, unit in group:
                    rate = statistics.median(rates[label])
                    print(
                        f"    {label:<33} {rate:9.0f} {unit} {spread(rates[label])}"
                        f"   ratio {rate / base:5.2f}"
                    )


if __name__ == "__main__":
    main()
