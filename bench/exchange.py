"""Benchmark: complete S071 -> S072 -> S073 cases per second between two processes, same run
as the bare ceiling.

Run: ``.venv/bin/python bench/exchange.py [--runs 3] [--cases N] [--concurrency C]
[--seconds S] [--synchronous FULL|NORMAL] [--profile pyspy|cprofile] [--profile-node cns|fund]``.
Each run is reported, then min / median / max over ``--runs`` runs (default 3).

**The exchange.** A temporary directory TOML puts the CNS (``LU:CNS00001``) and one mock fund
(``FR:CPAM5701``) on free loopback ports; ``N`` generated households (a main insured living in
Luxembourg, a spouse living in France, in the RNPP: rule R17) are given to both. Each runs as
its own process (``python -m eessi serve``), journaling to its own SQLite file. This process
starts cases through the fund's admin API (``--start batch``: ``POST /api/requests/batch``, one
call for all free slots; ``--start admin``: one ``POST /api/requests`` per case; kind
``request_entitlement``; the default ``--start bulk`` uses the bench-only ``POST /bench/start``
of ``bench/support/node.py``), keeping ``C`` cases open at once; each case is the fund's S071, the
CNS's S072 and the fund's automatic S073, every SED validated, journaled and receipted on both
sides. A case is complete when the fund's journal has its S073 acknowledged; the bench counts
completions by reading the fund's journal (read-only SQLite, one ``count(*)``), so the nodes
serve nothing but the exchange. After a warm-up (drained before the window opens), cases are
started for ``S`` seconds; cases/s is the number started in the window over the time until they
are all complete, and each node's CPU per case its CPU over that same time (from ``/proc``) per
case, so no work of a measured case is left uncounted however slow the exchange (over secured
AS4 on a loaded machine a case can take longer than the window); SEDs/s is three times that,
messages/s six times (each SED and its receipt). Latency
is read from the fund's journal afterwards: the S071's ``created_at`` (when the fund's desk
handled the request) to the S073's ``updated_at`` (its receipt journaled). The journals are
then checked: every measured case has S071 and S073 processed at the CNS and its S072 processed
at the fund.

**The bare ceiling, same run.** A minimal aiohttp server process (``--bare-serve``) that, per
POST, reads the body, parses it with the same hardened lxml parser, validates it against the
same compiled schema and answers a small receipt; this process posts the SEDs the exchange
actually produced (taken from the journals: same types, versions and sizes), ``C`` in flight,
for ``S`` seconds. Ratio = exchange SEDs/s / bare SEDs/s, and bare CPU per SED / the CNS's.

**Transport.** ``--transport as4`` (default, what ``eessi serve`` speaks): eDelivery AS4,
signed and encrypted (the network's test PKI made once in the work directory before the nodes
start); a second baseline, **bare secured**, then does per POST, besides the parse, validation
and receipt, the signature operations of an AS4 receiver on the same SEDs: an RSA-OAEP key
unwrap, AES-128-GCM decryption, an RSA-SHA256 verification and a signed receipt (RSA-2048, as
the P-Modes), and the ratios against it are printed too (issue 13). ``--no-security``: AS4
without signing or encryption; ``--transport legacy``: the AS4-like envelope with an HMAC.
Goals: issue 4, 1,000 cases/s on the 2-core machine; issue 13, CPU per SED ratio >= 0.5.

Note the shapes differ on purpose: the exchange runs two node processes (each one SED in, one
receipt out, one SED out per case) on two cores, the bare ceiling one server process and this
client. Both measure what the machine can move end to end.

**Profiling.** ``--profile pyspy`` attaches ``py-spy record`` (``pip install py-spy``, not a
project dependency) to the node named by ``--profile-node`` (default the CNS) for the measured
window and prints the top costs (own time and cumulative, all threads, so the aiosqlite writer
thread shows); ``--profile cprofile`` runs that node under ``cProfile`` (main thread only) and
prints its top functions at the end. The raw profiles stay in ``--keep DIR`` if given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CNS = "LU:CNS00001"
FUND = "FR:CPAM5701"


# -- setup -------------------------------------------------------------------------------------


#: How ``--start`` opens cases: the bench-only bulk route of bench/support/node.py, the admin
#: API's batch route (one POST for all free slots), or one POST /api/requests per case.
ROUTES = {"bulk": "/bench/start", "batch": "/api/requests/batch", "admin": "/api/requests"}


def write_directory(where: Path) -> Path:
    """The shipped directory with every endpoint on a free port and no admin URLs (the admin API
    is then served on the endpoint's port)."""
    from eessi.directory import default_directory_path
    from eessi.node.network import free_ports

    text = default_directory_path().read_text(encoding="utf-8")
    pattern = r"127\.0\.0\.1:87\d\d"
    ports = iter(free_ports(len(re.findall(pattern, text))))  # all at once: never one twice
    text = re.sub(pattern, lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def household(n: int) -> dict[str, object]:
    """Household ``n``: João-like main insured in LU, spouse in FR in the RNPP (R17)."""
    return {
        "format": "eessi-household/1",
        "id": f"bench-{n:05d}",
        "main_insured": [
            {
                "id": "main",
                "pin": f"19800101{n:05d}",
                "name": f"Paul Bench{n}",
                "date_of_birth": "1980-01-01",
                "affiliated_since": "2020-01-01",
            }
        ],
        "members": [
            {
                "id": "spouse",
                "name": f"Claire Bench{n}",
                "relation": "spouse",
                "date_of_birth": "1982-06-15",
                "relation_since": "2010-05-01",
                "country_of_residence": "FR",
                "rnpp_registered": True,
            }
        ],
    }


def write_households(where: Path, n: int) -> Path:
    folder = where / "households"
    folder.mkdir()
    for i in range(n):
        (folder / f"bench-{i:05d}.json").write_text(json.dumps(household(i)), encoding="utf-8")
    return folder


class Node:
    """One ``python -m eessi serve`` process (optionally under cProfile)."""

    def __init__(
        self,
        ir_id: str,
        work: Path,
        directory: Path,
        households: Path,
        synchronous: str,
        verbose: bool = False,
        bulk_route: bool = False,
        options: tuple[str, ...] = (),
        timings: bool = False,
        switch: float | None = None,
        prototypes: tuple[str, ...] = (),
        transport: tuple[str, ...] = (),
    ) -> None:
        self.ir_id = ir_id
        self.db = work / (ir_id.replace(":", "-") + ".sqlite")
        self.log = work / (ir_id.replace(":", "-") + ".log")
        # the bench's launcher (same node, plus POST /bench/start) or the real `eessi serve`
        launcher = (
            [str(ROOT / "bench" / "support" / "node.py")]
            if bulk_route
            else ["-m", "eessi", "serve"]
        )
        self.cmd = [
            *launcher,
            "--institution",
            ir_id,
            "--directory",
            str(directory),
            "--households",
            str(households),
            "--db",
            str(self.db),
            "--synchronous",
            synchronous,
            *([] if bulk_route else ["--tick", "0"]),
            *(["-v"] if verbose and not bulk_route else []),
            *(f"--option={o}" for o in options),
            *(["--timings"] if timings else []),
            *(f"--prototype={p}" for p in prototypes),
            *([f"--switch-interval={switch}"] if switch else []),
            *transport,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, cprofile: Path | None = None) -> None:
        prefix = ["-m", "cProfile", "-o", str(cprofile)] if cprofile else []
        self.proc = subprocess.Popen(
            [sys.executable, *prefix, *self.cmd],
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
            cwd=str(ROOT),
        )

    def wait_ready(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            raise SystemExit(f"{self.ir_id} did not start: {line!r}; see {self.log}")
        self.url = match.group(1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> float:
    """CPU time of the process's threads other than its main thread (the journal's threads)."""
    total = 0.0
    try:
        tids = [t for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
    except OSError:
        return float("nan")
    for tid in tids:
        with suppress(OSError):
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            fields = text.rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# -- the exchange ------------------------------------------------------------------------------


def completed(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM messages WHERE status = 'acknowledged' AND sed_type = 'S073'"
        " AND direction = 'out'"
    ).fetchone()
    return int(row[0])


@dataclass
class Drive:
    started: int
    measured_from: int
    measured_to: int
    seconds: float
    first_key: int
    last_key: int
    #: CPU seconds used by each node process from the window's start until the cases started
    #: in it were complete.
    cpu: list[float]
    #: Of which by threads other than the main thread (the journal's writer and reader).
    thread_cpu: list[float]
    #: Seconds from the window's start until the cases started in it were complete.
    span: float


async def drive(
    fund: Node,
    keys: list[str],
    concurrency: int,
    seconds: float,
    warmup: int,
    on_measure: object,
    mode: str,
    pids: list[int],
) -> Drive:
    """Keep ``concurrency`` cases open: ``warmup`` cases first, then ``seconds`` measured."""
    import aiohttp

    conn = sqlite3.connect(f"file:{fund.db}?mode=ro", uri=True, timeout=10)
    url = fund.url + ROUTES[mode]
    bulk = mode in ("bulk", "batch")
    errors: list[str] = []
    next_key = 0

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def open_cases(batch: list[str]) -> None:
            if mode == "bulk":
                async with session.post(url, json=batch) as resp:
                    if resp.status != 202:
                        errors.append(f"{batch[0]}...: {resp.status} {await resp.text()}")
                return
            if mode == "batch":
                body = [{"kind": "request_entitlement", "person": key} for key in batch]
                async with session.post(url, json=body) as resp:
                    answer = await resp.json() if resp.status == 202 else None
                    if answer is None or answer["refused"]:
                        errors.append(f"{batch[0]}...: {resp.status} {answer}")
                return
            for key in batch:
                one = {"kind": "request_entitlement", "person": key}
                async with session.post(url, json=one) as resp:
                    if resp.status != 202:
                        errors.append(f"{key}: {resp.status} {await resp.text()}")

        tasks: set[asyncio.Task[None]] = set()

        async def run(until_started: int | None, deadline: float | None) -> None:
            nonlocal next_key
            while next_key < len(keys):
                if until_started is not None and next_key >= until_started:
                    break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if errors:
                    raise SystemExit("starting a case failed: " + errors[0])
                room = concurrency - (next_key - completed(conn))
                if until_started is not None:
                    room = min(room, until_started - next_key)
                room = max(0, min(room, len(keys) - next_key))
                # bulk, batch: one POST for all free slots (at most 1000 a batch); admin: one
                # POST per case (concurrently)
                batches = (
                    [
                        keys[i : min(i + 1000, next_key + room)]
                        for i in range(next_key, next_key + room, 1000)
                    ]
                    if bulk
                    else [[k] for k in keys[next_key : next_key + room]]
                )
                for batch in batches:
                    if not batch:
                        continue
                    task = asyncio.create_task(open_cases(batch))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                next_key += room
                await asyncio.sleep(0.005)

        async def drain(limit: float) -> None:
            end = time.perf_counter() + limit
            while completed(conn) < next_key:
                if time.perf_counter() > end:
                    raise SystemExit(
                        f"only {completed(conn)} of {next_key} cases completed in {limit:g} s;"
                        f" see the logs in {fund.log.parent}"
                    )
                await asyncio.sleep(0.01)

        await run(warmup, None)
        await drain(60)
        if callable(on_measure):
            on_measure()
        first = next_key
        done_before = completed(conn)
        cpu = [cpu_seconds(pid) for pid in pids]
        threads = [thread_cpu_seconds(pid) for pid in pids]
        start = time.perf_counter()
        await run(None, start + seconds)
        elapsed = time.perf_counter() - start
        if elapsed < 0.9 * seconds:
            print(
                f"  (every household was used after {elapsed:.1f} s: give more --cases for a"
                " steady window)"
            )
        done_after = completed(conn)
        # The CPU is counted until the cases started in the window are complete (none of
        # their work is left uncounted, nor is a warm-up case's: drained before the window).
        await drain(180)
        await asyncio.gather(*tasks)
        span = time.perf_counter() - start
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
        threads = [
            thread_cpu_seconds(pid) - before for pid, before in zip(pids, threads, strict=True)
        ]
    conn.close()
    if errors:
        raise SystemExit("starting a case failed: " + errors[0])
    return Drive(next_key, done_before, done_after, elapsed, first, next_key, cpu, threads, span)


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def latencies(
    fund_db: Path, cns_db: Path, keys_measured: int
) -> tuple[list[float], dict[str, int], set[str]]:
    """Per-case latency (seconds) of the measured cases, and a check of both journals."""
    fund = sqlite3.connect(f"file:{fund_db}?mode=ro", uri=True)
    rows = fund.execute(
        "SELECT conversation_id, sed_type, direction, status, created_at, updated_at"
        " FROM messages ORDER BY seq"
    ).fetchall()
    fund.close()
    start: dict[str, datetime] = {}
    end: dict[str, datetime] = {}
    check: Counter[str] = Counter()
    for case, sed, direction, status, created, updated in rows:
        check[f"fund {direction} {sed} {status}"] += 1
        if direction == "out" and sed == "S071":
            start[case] = parse_ts(created)
        elif direction == "out" and sed == "S073" and status == "acknowledged":
            end[case] = parse_ts(updated)
    cns = sqlite3.connect(f"file:{cns_db}?mode=ro", uri=True)
    for direction, sed, status, count in cns.execute(
        "SELECT direction, sed_type, status, count(*) FROM messages GROUP BY 1, 2, 3"
    ):
        check[f"cns {direction} {sed} {status}"] += count
    cns.close()
    ordered = sorted(start, key=lambda c: start[c])[-keys_measured:] if keys_measured else []
    lat = [(end[c] - start[c]).total_seconds() for c in ordered if c in end]
    return lat, dict(check), set(ordered)


#: The legs of a case, as (label, journal, SED, direction, from column, to column).
LEGS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("fund: S071 waits in the outbox", "fund", "S071", "out", "created_at", "sent_at"),
    ("fund: S071 sent -> receipt journaled", "fund", "S071", "out", "sent_at", "updated_at"),
    ("CNS: S071 received -> processed", "cns", "S071", "in", "received_at", "updated_at"),
    ("CNS: S072 waits in the outbox", "cns", "S072", "out", "created_at", "sent_at"),
    ("CNS: S072 sent -> receipt journaled", "cns", "S072", "out", "sent_at", "updated_at"),
    ("fund: S072 received -> processed", "fund", "S072", "in", "received_at", "updated_at"),
    ("fund: S073 waits in the outbox", "fund", "S073", "out", "created_at", "sent_at"),
    ("fund: S073 sent -> receipt journaled", "fund", "S073", "out", "sent_at", "updated_at"),
)


def legs(fund_db: Path, cns_db: Path, cases: set[str]) -> list[tuple[str, float, float]]:
    """Median and p99 (ms) of each leg of the measured cases, from the journals' timestamps
    (``sent_at`` is the start of the last attempt, ``updated_at`` the last status change)."""
    out: list[tuple[str, float, float]] = []
    dbs = {"fund": fund_db, "cns": cns_db}
    for label, which, sed, direction, a, b in LEGS:
        conn = sqlite3.connect(f"file:{dbs[which]}?mode=ro", uri=True)
        rows = conn.execute(
            f"SELECT conversation_id, {a}, {b} FROM messages WHERE sed_type = ? AND direction = ?",
            (sed, direction),
        ).fetchall()
        conn.close()
        values = [
            1000 * (parse_ts(y) - parse_ts(x)).total_seconds()
            for case, x, y in rows
            if case in cases and x and y
        ]
        out.append((label, statistics.median(values) if values else 0.0, percentile(values, 0.99)))
    return out


def sample_seds(fund_db: Path, cns_db: Path) -> list[bytes]:
    """The SEDs the exchange produced: S071 and S073 (fund out), S072 (CNS out)."""
    out: list[bytes] = []
    for db, types in ((fund_db, ("S071", "S073")), (cns_db, ("S072",))):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for sed in types:
            rows = conn.execute(
                "SELECT payload FROM messages JOIN message_blobs ON message_seq = seq"
                " WHERE direction = 'out' AND sed_type = ?"
                " ORDER BY seq DESC LIMIT 64",
                (sed,),
            ).fetchall()
            out.extend(bytes(r[0]) for r in rows)
        conn.close()
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# -- profiling ---------------------------------------------------------------------------------


class PySpy:
    """``py-spy record`` attached to a process for the measured window (raw collapsed stacks)."""

    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.out = out
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            raise SystemExit("--profile pyspy needs py-spy: .venv/bin/pip install py-spy")
        self.cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--duration",
            str(max(1, int(seconds))),
            "--format",
            "raw",
            "--nonblocking",
            "--threads",
            "-o",
            str(out),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> None:
        if self.proc is not None:
            _, err = self.proc.communicate(timeout=120)
            if self.proc.returncode != 0:
                print(f"py-spy failed: {err.decode(errors='replace').strip()}")


def short(frame: str) -> str:
    """``fn (/long/path/to/module.py:12)`` -> ``fn (module.py:12)``; lines dropped for grouping."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    fn, path = match.groups()
    parts = Path(path).parts
    tail = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{fn} ({tail})"


#: Subsystems, tried from the innermost frame outwards: the first frame that matches one of a
#: subsystem's patterns (function name or file) decides where a sample's time goes.
SUBSYSTEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "AS4 security (sign, verify, encrypt, decrypt, certificates)",
        ("security/", "cryptography/"),
    ),
    ("AS4 message (ebMS header, MIME, P-Mode, gzip)", ("as4/", "gzip.py", "email/")),
    ("SED parse + XSD validation", ("sed/validate.py", "sed/xmlsafe.py", "sed/schemas.py")),
    ("SED encode (model -> XML)", ("to_xml", "encode_root", "encode_node", "_encode_")),
    ("SED decode (XML -> model)", ("from_element", "decode_", "sed/codec.py", "sed/model.py")),
    ("desk (domain core)", ("eessi/core/", "core/cns.py", "core/fund.py", "core/")),
    (
        "envelope, HMAC, framing",
        ("transport/envelope.py", "transport/auth.py", "transport/framing.py", "hmac.py"),
    ),
    ("transport client (Sender)", ("transport/client.py",)),
    ("transport endpoint checks", ("transport/server.py",)),
    ("node records (events/snapshots to JSON)", ("node/records.py",)),
    ("journal, event-loop side", ("journal/",)),
    (
        "node glue (institution, inbox, worker, outbox)",
        (
            "node/institution.py",
            "node/inbox.py",
            "node/worker.py",
            "node/outbox.py",
            "node/restore.py",
            "node/steps.py",
            "node/hooks.py",
            "transport/seam.py",
            "transport/http.py",
        ),
    ),
    ("mock fund behaviours", ("mock/",)),  # frames are shortened to the last two parts
    ("aiohttp client", ("aiohttp/client", "aiohttp/connector")),
    ("aiohttp server", ("aiohttp/web_", "aiohttp/http_", "aiohttp/streams", "aiohttp/base_")),
    ("asyncio loop + sockets", ("asyncio/",)),
)


#: ``eessi/as4/render.py`` renders each envelope in one pass (D170), its signature and
#: encryption included: its samples are "AS4 security" in these functions and on the lines that
#: call the crypto (found in its source), "AS4 message" elsewhere.
RENDER = "as4/render.py"
RENDER_SECURITY_FUNCTIONS = frozenset({"_signature", "_digest", "certificate_b64"})
RENDER_CRYPTO_CALL = re.compile(r"\.(?:sign|encrypt|public_key)\(|AESGCM\(|hashlib\.")


def render_crypto_lines(path: Path = ROOT / "eessi" / RENDER) -> frozenset[int]:
    """The lines of ``render.py`` that call into the crypto (empty for a tree without it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    lines = enumerate(text.splitlines(), start=1)
    return frozenset(n for n, line in lines if RENDER_CRYPTO_CALL.search(line))


RENDER_CRYPTO_LINES = render_crypto_lines()


def render_security(raw_frame: str) -> bool:
    """Is this py-spy frame (``fn (path:line)``) signing, encrypting or hashing in render.py?"""
    match = re.match(r"(.*?) \((.*?):(\d+)\)$", raw_frame)
    if not match or not match.group(2).endswith(RENDER):
        return False
    fn, _, line = match.groups()
    return fn in RENDER_SECURITY_FUNCTIONS or int(line) in RENDER_CRYPTO_LINES


def subsystem(frames: list[str], raw: list[str] | None = None) -> str:
    """Where a sample goes: ``frames`` shortened by :func:`short`, ``raw`` as py-spy wrote them
    (with line numbers: they split render.py's time between the security and the message)."""
    if "eessi-journal-writer" in frames[0]:  # the thread's name
        return "journal writer thread (SQL, commit; fsync waits included)"
    if "eessi-journal-reader" in frames[0]:
        return "journal reader thread (queries)"
    if frames[-1].startswith("Runner.run ("):  # uvloop's loop is C: its own time shows here
        return "event loop (uvloop: its C loop, idle waits included)"
    for i in range(len(frames) - 1, -1, -1):
        frame = frames[i]
        if frame.startswith(("select (selectors", "EpollSelector.select")):
            return "waiting in epoll (idle)"
        if raw is not None and render_security(raw[i]):
            return SUBSYSTEMS[0][0]
        for name, patterns in SUBSYSTEMS:
            if any(p in frame for p in patterns):
                return name
    return "other"


def report_pyspy(path: Path, top: int = 25) -> None:
    """Own and cumulative sample shares from py-spy's collapsed stacks, all threads."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        raw = stack.split(";")
        frames = [short(f) for f in raw]
        total += count
        threads[frames[0]] += count
        parts[subsystem(frames, raw)] += count
        leaf = frames[-1]
        if any(
            f.startswith(("select (selectors", "_worker (", "wait (threading", "get (queue"))
            for f in frames[-2:]
        ):
            idle += count
        own[leaf] += count
        for f in set(frames[1:]):
            cumulative[f] += count
    if not total:
        print("  (no samples)")
        return
    busy = total - idle
    print(f"  {total} samples; idle (select/queue waits) {100 * idle / total:.0f}%")
    print("  by thread:")
    for name, c in threads.most_common(6):
        print(f"    {100 * c / total:5.1f}%  {name}")
    waiting = sum(c for name, c in parts.items() if name.endswith("(idle)"))
    print(
        "  by subsystem (innermost project frame decides; share of all samples, then of the"
        f" {total - waiting} busy ones):"
    )
    for name, c in parts.most_common():
        busy_share = "" if name.endswith("(idle)") else f"{100 * c / max(total - waiting, 1):5.1f}%"
        print(f"    {100 * c / total:5.1f}%  {busy_share:>6s}  {name}")
    print("  own time (share of all samples):")
    for name, c in own.most_common(top):
        print(f"    {100 * c / total:5.1f}%  {name}")
    print(f"  cumulative (share of non-idle samples, {busy}):")
    for name, c in cumulative.most_common(top + 15):
        if name.startswith(("<module>", "run (", "_run_once", "run_forever", "_run (")):
            continue
        print(f"    {100 * c / max(busy, 1):5.1f}%  {name}")


def report_cprofile(path: Path, top: int = 30) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


# -- the bare ceiling --------------------------------------------------------------------------

RECEIPT = (
    b'<?xml version="1.0" encoding="UTF-8"?><Receipt xmlns="urn:eessi-sim:as4">'
    b"<RefToMessageId>%s</RefToMessageId></Receipt>"
)


def schema_lookup() -> Callable[[Any], Any]:
    """The bare servers' schema choice: a parsed SED's root -> its compiled XSD, by namespace
    (``.../ns/4_4/S071`` -> S071 4.4), compiled once each."""
    from lxml import etree

    from eessi.sed.schemas import default_schemas

    schemas = default_schemas()
    by_namespace: dict[str, etree.XMLSchema] = {}

    def schema_for(root: etree._Element) -> etree.XMLSchema:
        ns = etree.QName(root).namespace or ""
        schema = by_namespace.get(ns)
        if schema is None:
            version, code = ns.rsplit("/", 2)[-2:]
            schema = by_namespace[ns] = schemas.schema(code, version.replace("_", "."))
        return schema

    return schema_for


def serve_on_free_port(app: Any) -> None:
    """Serve an aiohttp application on a free loopback port, print the port on stdout (the
    parent reads it) and serve until killed: the bare baselines' process body."""
    from aiohttp import web

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def bare_serve(secured: str | None = None) -> None:
    """Per POST: read, parse (hardened lxml), validate against the compiled schema, receipt.

    ``secured`` (a directory with ``server.pem`` and ``client.pub.pem``): the body is a
    :func:`seal`-ed SED, and the server also does the signature operations an AS4 receiver
    does per message: unwrap the AES key (RSA-OAEP, its private key), decrypt the SED
    (AES-128-GCM), verify the sender's RSA-SHA256 signature of it, and sign the receipt
    (RSA-SHA256, its private key)."""
    from aiohttp import web
    from lxml import etree

    from eessi.sed import xmlsafe

    schema_for = schema_lookup()
    counter = iter(range(10**12))
    open_seal = unsealer(Path(secured)) if secured else None

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if open_seal is not None:
            body, sign = open_seal(body)
        root = etree.fromstring(body, xmlsafe.PARSER)
        if not schema_for(root).validate(root):
            return web.Response(status=400, text="invalid")
        receipt = RECEIPT % str(next(counter)).encode()
        if open_seal is not None:
            receipt += sign(receipt)
        return web.Response(body=receipt, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/as4", handle)
    serve_on_free_port(app)


# The secured bare baseline's keys and message: RSA-2048 and AES-128-GCM, as the AS4 P-Modes.


def make_keys(where: Path) -> None:
    """Two RSA-2048 key pairs: the bare server's (``server.pem``, ``server.pub.pem``) and its
    client's (``client.pem``, ``client.pub.pem``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    where.mkdir(parents=True, exist_ok=True)
    for name in ("server", "client"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (where / f"{name}.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (where / f"{name}.pub.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def sealer(where: Path) -> Any:
    """``seal(sed) -> body``: the SED encrypted for the server (a fresh AES-128-GCM key,
    wrapped with RSA-OAEP SHA-256) and signed by the client (RSA-SHA256, PKCS#1 v1.5):
    ``wrapped key (256) | nonce (12) | signature (256) | ciphertext``."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from eessi.as4.security.encrypt import OAEP

    client = serialization.load_pem_private_key((where / "client.pem").read_bytes(), None)
    server = serialization.load_pem_public_key((where / "server.pub.pem").read_bytes())
    assert isinstance(client, rsa.RSAPrivateKey)
    assert isinstance(server, rsa.RSAPublicKey)

    def seal(sed: bytes) -> bytes:
        key, nonce = AESGCM.generate_key(bit_length=128), os.urandom(12)
        signature = client.sign(sed, padding.PKCS1v15(), hashes.SHA256())
        return server.encrypt(key, OAEP) + nonce + signature + AESGCM(key).encrypt(nonce, sed, None)

    return seal


def unsealer(where: Path) -> Any:
    """``open(body) -> (sed, sign)``: :func:`sealer`'s body unwrapped (the RSA-OAEP key
    transport with the server's key), decrypted and its signature verified with the client's
    key; ``sign(receipt)`` signs a receipt with the server's key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from eessi.as4.security.encrypt import OAEP

    server = serialization.load_pem_private_key((where / "server.pem").read_bytes(), None)
    client = serialization.load_pem_public_key((where / "client.pub.pem").read_bytes())
    assert isinstance(server, rsa.RSAPrivateKey)
    assert isinstance(client, rsa.RSAPublicKey)

    def sign(receipt: bytes) -> bytes:
        return server.sign(receipt, padding.PKCS1v15(), hashes.SHA256())

    def open_seal(body: bytes) -> tuple[bytes, Any]:
        key = server.decrypt(body[:256], OAEP)
        sed = AESGCM(key).decrypt(body[256:268], body[524:], None)
        client.verify(body[268:524], sed, padding.PKCS1v15(), hashes.SHA256())
        return sed, sign

    return open_seal


async def bare_drive(
    url: str, seds: list[bytes], seconds: float, concurrency: int, pid: int
) -> tuple[float, float]:
    """SEDs/s, and the server's CPU milliseconds per SED, over the measured window."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        counter = iter(range(10**12))
        done = 0
        deadline = 0.0
        headers = {"Content-Type": "application/xml"}

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                body = seds[next(counter) % len(seds)]
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                done += 1

        deadline = time.perf_counter() + 0.5  # warm up
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done = 0
        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rate = done / (time.perf_counter() - start)
        return rate, 1000 * (cpu_seconds(pid) - cpu) / max(done, 1)


def start_bare(secured: bool) -> tuple[subprocess.Popen[str], int, Any]:
    """The bare server process, its port and, when ``secured``, the client's ``seal``."""
    keys = Path(tempfile.mkdtemp(prefix="eessi-bare-keys-")) if secured else None
    if keys is not None:
        make_keys(keys)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--bare-serve",
            *(["--bare-keys", str(keys)] if keys is not None else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    seal = sealer(keys) if keys is not None else None
    if keys is not None:
        shutil.rmtree(keys, ignore_errors=True)  # both sides have read their keys
    return proc, port, seal


def bare_ceiling(
    seds: list[bytes], seconds: float, concurrency: int, secured: bool = False
) -> tuple[float, float]:
    proc, port, seal = start_bare(secured)
    try:
        bodies = [seal(s) for s in seds] if seal is not None else seds
        url = f"http://127.0.0.1:{port}/as4"
        return asyncio.run(bare_drive(url, bodies, seconds, concurrency, proc.pid))
    finally:
        proc.terminate()
        proc.wait()


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=1500, help="most cases to start")
    parser.add_argument("--concurrency", type=int, default=64, help="cases open at once")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--warmup", type=int, default=100, help="cases before measuring")
    parser.add_argument(
        "--start",
        choices=tuple(ROUTES),
        default="bulk",
        help="start cases with the bench's bulk route (bench/support/node.py), the admin"
        " API's POST /api/requests/batch (eessi serve), or one POST /api/requests each",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=INT",
        help="run both nodes through bench/support/node.py with this NodeOptions field"
        " (experiments: send_workers=64, batch=128)",
    )
    parser.add_argument(
        "--timings",
        action="store_true",
        help="run both nodes through bench/support/node.py, timing journal commits and sends"
        " (printed from their logs)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        metavar="SECONDS",
        help="run both nodes through bench/support/node.py with this sys.setswitchinterval"
        " (experiment: the GIL hand-over between the event loop and the SQLite thread)",
    )
    parser.add_argument(
        "--prototype",
        action="append",
        default=[],
        choices=("gc-freeze",),
        help="run both nodes through bench/support/node.py with a prototype of a proposed"
        " optimisation (bench/support/prototypes.py)",
    )
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument(
        "--transport",
        choices=("as4", "legacy"),
        default="as4",
        help="what the nodes speak: as4 (default, what eessi serve speaks: eDelivery AS4,"
        " signed and encrypted) or legacy (the AS4-like envelope with an HMAC)",
    )
    parser.add_argument(
        "--no-security", action="store_true", help="AS4 without signing or encryption"
    )
    parser.add_argument("--profile", choices=("pyspy", "cprofile"))
    parser.add_argument("--profile-node", choices=("cns", "fund"), default="cns")
    parser.add_argument("--keep", metavar="DIR", help="keep journals, logs and profiles here")
    parser.add_argument("--verbose", action="store_true", help="nodes log each step")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare ceiling")
    parser.add_argument("--bare-serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-keys", help=argparse.SUPPRESS)
    parser.add_argument(
        "--runs", type=int, default=3, help="runs (exchange + bare each); min / median / max"
    )
    args = parser.parse_args()
    if args.bare_serve:
        bare_serve(args.bare_keys)
        return
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        if args.runs > 1:
            print(f"== run {i + 1} of {args.runs}")
        runs.append(one_run(args, f"run-{i + 1}" if args.runs > 1 else ""))
    if args.runs > 1:
        summary(runs)


#: The figures of a run that the summary gives min / median / max of: (key, label, format).
SUMMARY: tuple[tuple[str, str, str], ...] = (
    ("cases_s", "cases/s", "{:.0f}"),
    ("seds_s", "SEDs/s", "{:.0f}"),
    ("p50", "case latency p50 (ms)", "{:.0f}"),
    ("p99", "case latency p99 (ms)", "{:.0f}"),
    ("cpu_cns", "CPU per case, CNS (ms)", "{:.2f}"),
    ("cpu_fund", "CPU per case, fund (ms)", "{:.2f}"),
    ("threads_cns", "  of which journal threads, CNS (ms)", "{:.2f}"),
    ("cpu_sed", "CPU per SED, CNS (ms)", "{:.3f}"),
    ("bare_s", "bare SEDs/s", "{:.0f}"),
    ("bare_cpu", "bare CPU per SED (ms)", "{:.3f}"),
    ("ratio", "ratio SEDs/s exchange / bare", "{:.2f}"),
    ("ratio_cpu", "ratio CPU per SED bare / CNS", "{:.2f}"),
    ("bare_sec_s", "bare secured SEDs/s", "{:.0f}"),
    ("bare_sec_cpu", "bare secured CPU per SED (ms)", "{:.3f}"),
    ("ratio_sec", "ratio SEDs/s exchange / bare secured", "{:.2f}"),
    ("ratio_sec_cpu", "ratio CPU per SED bare secured / CNS", "{:.2f}"),
)


def summary(runs: list[dict[str, float]]) -> None:
    print(f"summary of {len(runs)} runs (min / median / max):")
    for key, label, fmt in SUMMARY:
        values = sorted(r[key] for r in runs if key in r)
        if not values:
            continue
        parts = (values[0], statistics.median(values), values[-1])
        print(f"  {label:38s} {' / '.join(fmt.format(v) for v in parts)}")
    checks = sum(1 for r in runs if r.get("check_ok"))
    print(f"  journal checks passed                  {checks} of {len(runs)} runs")


def transport_args(args: argparse.Namespace, work: Path, directory: Path) -> tuple[str, ...]:
    """The nodes' ``--transport`` options; for secured AS4 the network's PKI is made here
    first (both nodes then read it, neither races to create it)."""
    if args.transport == "legacy":
        return ("--transport", "legacy")
    if args.no_security:
        return ("--transport", "as4", "--no-security")
    from eessi.as4.startup import ensure_pki
    from eessi.directory import load_directory

    ensure_pki(work / "pki", load_directory(directory))
    return ("--transport", "as4", "--pki", str(work / "pki"))


def transport_label(args: argparse.Namespace) -> str:
    if args.transport == "legacy":
        return "legacy transport (AS4-like envelope, HMAC)"
    if args.no_security:
        return "eDelivery AS4 without security"
    return "eDelivery AS4, signed and encrypted (the default of eessi serve)"


def one_run(args: argparse.Namespace, name: str) -> dict[str, float]:
    """One exchange (and its bare ceiling): prints its report, returns its figures."""
    total = args.warmup + args.cases
    if args.keep:
        work = Path(args.keep) / name if name else Path(args.keep)
    else:
        work = Path(tempfile.mkdtemp(prefix="eessi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    directory = write_directory(work)
    households = write_households(work, total)
    options = tuple(args.option)
    transport = transport_args(args, work, directory)
    cns = Node(
        CNS,
        work,
        directory,
        households,
        args.synchronous,
        args.verbose,
        bulk_route=bool(options or args.prototype) or args.timings or bool(args.switch_interval),
        options=options,
        timings=args.timings,
        switch=args.switch_interval,
        prototypes=tuple(args.prototype),
        transport=transport,
    )
    fund = Node(
        FUND,
        work,
        directory,
        households,
        args.synchronous,
        args.verbose,
        bulk_route=args.start == "bulk"
        or bool(options or args.prototype)
        or args.timings
        or bool(args.switch_interval),
        options=options,
        timings=args.timings,
        switch=args.switch_interval,
        prototypes=tuple(args.prototype),
        transport=transport,
    )
    profiled = cns if args.profile_node == "cns" else fund
    cprofile = work / "profile.pstats" if args.profile == "cprofile" else None
    spy: PySpy | None = None
    try:
        cns.start(cprofile if profiled is cns else None)
        fund.start(cprofile if profiled is fund else None)
        cns.wait_ready()
        fund.wait_ready()
        setup = time.perf_counter() - t0
        keys = [f"bench-{i:05d}/spouse" for i in range(total)]

        def on_measure() -> None:
            nonlocal spy
            if args.profile == "pyspy":
                assert profiled.proc is not None
                spy = PySpy(profiled.proc.pid, work / "pyspy.txt", args.seconds)
                spy.start()

        result = asyncio.run(
            drive(
                fund,
                keys,
                args.concurrency,
                args.seconds,
                args.warmup,
                on_measure,
                args.start,
                [p.pid for p in (cns.proc, fund.proc) if p is not None],
            )
        )
        if spy is not None:
            spy.wait()
    finally:
        fund.stop()
        cns.stop()
    measured = result.measured_to - result.measured_from
    window_cases = result.last_key - result.first_key  # started in the window
    # the cases started in the window, complete after ``span`` seconds (a slow exchange may
    # complete none within a short window; its cases still count once complete)
    cases_s = window_cases / result.span
    lat, check, measured_cases = latencies(fund.db, cns.db, result.last_key - result.first_key)
    seds = sample_seds(fund.db, cns.db)
    sizes: dict[str, int] = {}
    for sed in seds:
        found = re.search(rb"/(S07\d)", sed)
        sizes[found.group(1).decode() if found else "?"] = len(sed)

    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load average {load:.1f} at the end"
        + (" (other processes compete: read the CPU-per-case figures)" if load > 2.5 else "")
    )
    print(
        f"exchange: {CNS} and {FUND} as two `eessi serve` processes on loopback,"
        f" journals synchronous={args.synchronous}, {args.concurrency} cases open at once"
    )
    print(f"  transport: {transport_label(args)}")
    print(
        f"  setup {setup:.1f} s ({total} households); warm-up {args.warmup} cases;"
        f" started {result.started} cases, {measured} completed in the {result.seconds:.1f} s"
        " window"
    )
    print(f"  SED sizes (bytes): {dict(sorted(sizes.items()))}")
    cpu_cns, cpu_fund = result.cpu
    print(
        f"  CPU from the window's start until its {window_cases} cases were complete"
        f" ({result.span:.1f} s): CNS {100 * cpu_cns / result.span:.0f}% of a core,"
        f" fund {100 * cpu_fund / result.span:.0f}%; per case: CNS"
        f" {1000 * cpu_cns / max(window_cases, 1):.1f} ms,"
        f" fund {1000 * cpu_fund / max(window_cases, 1):.1f} ms"
    )
    th_cns, th_fund = result.thread_cpu
    per = max(window_cases, 1)
    print(
        f"  of which journal threads (writer, reader): CNS {1000 * th_cns / per:.1f}"
        f" ms, fund {1000 * th_fund / per:.1f} ms per case"
    )
    print(f"  cases/s                          {cases_s:8.0f}")
    print(f"  SEDs/s (3 per case)              {3 * cases_s:8.0f}")
    print(f"  messages/s (SEDs + receipts)     {6 * cases_s:8.0f}")
    print(
        f"  case latency p50 / p99           {1000 * percentile(lat, 0.5):8.1f} /"
        f" {1000 * percentile(lat, 0.99):.1f} ms (S071 handled -> S073 acknowledged,"
        f" {len(lat)} cases)"
    )
    print("  where a case's time goes (median / p99 ms per leg, from the journals):")
    for label, p50, p99 in legs(fund.db, cns.db, measured_cases):
        print(f"    {label:40s} {p50:7.1f} / {p99:7.1f}")
    n = result.started
    expect = {
        "cns in S071 processed": n,
        "cns out S072 acknowledged": n,
        "cns in S073 processed": n,
        "fund out S071 acknowledged": n,
        "fund in S072 processed": n,
        "fund out S073 acknowledged": n,
    }
    wrong = {k: (check.get(k, 0), v) for k, v in expect.items() if check.get(k, 0) != v}
    others = {k: v for k, v in check.items() if k not in expect}
    figures: dict[str, float] = {
        "cases_s": cases_s,
        "seds_s": 3 * cases_s,
        "p50": 1000 * percentile(lat, 0.5),
        "p99": 1000 * percentile(lat, 0.99),
        "cpu_cns": 1000 * cpu_cns / max(window_cases, 1),
        "cpu_fund": 1000 * cpu_fund / max(window_cases, 1),
        "threads_cns": 1000 * th_cns / max(window_cases, 1),
        "cpu_sed": 1000 * cpu_cns / max(window_cases, 1) / 3,
        "check_ok": float(not (wrong or others)),
    }
    if wrong or others:
        print(f"  JOURNAL CHECK FAILED: {wrong} {others}")
    else:
        print(f"  journals: all {n} cases processed and acknowledged on both sides")
    if not args.no_bare:
        bare, bare_cpu = bare_ceiling(seds, args.seconds, args.concurrency)
        print(
            f"bare ceiling: aiohttp server process, parse + validate + receipt per POST,"
            f" {args.concurrency} in flight, the same SEDs"
        )
        print(f"  bare SEDs/s                      {bare:8.0f}")
        print(f"  ratio exchange SEDs/s / bare     {3 * cases_s / bare:8.2f}")
        # CPU per SED does not depend on what else the machine runs (other processes take
        # cores from both sides, not always equally): the second ratio to read.
        ours_cpu = 1000 * cpu_cns / max(window_cases, 1) / 3
        print(
            f"  CPU per SED: bare server {bare_cpu:.2f} ms, CNS {ours_cpu:.2f} ms"
            f" (CNS receives two SEDs and sends one per case); ratio {bare_cpu / ours_cpu:.2f}"
        )
        figures.update(
            bare_s=bare,
            bare_cpu=bare_cpu,
            ratio=3 * cases_s / bare,
            ratio_cpu=bare_cpu / ours_cpu,
        )
        if args.transport == "as4" and not args.no_security:
            sec, sec_cpu = bare_ceiling(seds, args.seconds, args.concurrency, secured=True)
            print(
                "bare ceiling with the signature operations of an AS4 receiver: the same, plus"
                " per POST an RSA-OAEP key unwrap, AES-128-GCM decryption, an RSA-SHA256"
                " verification and a signed receipt (RSA-2048)"
            )
            print(f"  bare secured SEDs/s              {sec:8.0f}")
            print(f"  ratio exchange SEDs/s / bare     {3 * cases_s / sec:8.2f}")
            print(
                f"  CPU per SED: bare secured server {sec_cpu:.2f} ms, CNS {ours_cpu:.2f} ms;"
                f" ratio {sec_cpu / ours_cpu:.2f}"
            )
            figures.update(
                bare_sec_s=sec,
                bare_sec_cpu=sec_cpu,
                ratio_sec=3 * cases_s / sec,
                ratio_sec_cpu=sec_cpu / ours_cpu,
            )
    if args.timings:
        for node in (cns, fund):
            text = node.log.read_text(encoding="utf-8", errors="replace")
            print(f"{node.ir_id} " + text[text.find("timings") :].rstrip())
    if args.profile == "pyspy":
        print(f"profile of {profiled.ir_id} (py-spy, measured window):")
        report_pyspy(work / "pyspy.txt")
    elif args.profile == "cprofile" and cprofile is not None and cprofile.exists():
        print(f"profile of {profiled.ir_id} (cProfile, main thread, whole run):")
        report_cprofile(cprofile)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"journals, logs and profiles kept in {work}")
    return figures


if __name__ == "__main__":
    main()
