"""Benchmark: how long the CNS takes to restart with 1,000, 10,000 and 100,000 cases journaled,
from its checkpoint (D50) and, as the baseline, by replaying the whole input log (D7).

Run: ``.venv/bin/python bench/restart.py [--sizes 1000,10000] [--large] [--runs 3]
[--baseline-max 10000] [--keep DIR] [--serve]``. Goal (issue 9, item 11): under 2 s at 100,000
cases.
The default run (``make bench``) takes 1,000 and 10,000 cases (a few minutes); ``--large``
adds 100,000 (building that journal through the real nodes takes about 25 minutes here; keep
it with ``--keep DIR`` and later runs reuse it).

**The journals.** For each size N, N generated households (main insured in LU, spouse living in
France, in the RNPP: rule R17, as ``bench/exchange.py``) and an in-process network of the CNS
and one mock fund (``FR:CPAM5701``) on loopback (:class:`eessi.node.network.Network`, the nodes
``eessi up`` runs, each with its SQLite journal, ``synchronous=NORMAL`` to build faster; the
rows are the same). The fund opens N S_BUC_01 cases (``RequestEntitlement``, 256 at a time);
each is the fund's S071, the CNS's S072 and the fund's S073, every SED validated, journaled and
receipted: the CNS's journal is exactly what it writes in service (2 inputs per case in its
input log, with periodic checkpoints every ``NodeOptions.checkpoint_every`` = 1,000 inputs).
Before the last 250 cases the CNS stops (a checkpoint of all so far) and starts again with
checkpoints off; it then stops without one, as if killed: the restart finds a checkpoint and a
tail of 500 inputs after it, what a crash half-way between two checkpoints leaves.

**The whole restart, timed (``--serve``).** A real ``eessi serve --institution LU:CNS00001
--households DIR --db JOURNAL`` process, timed from its start until it answers ``GET
/api/health/ready`` with 200 (imports, directory, households, journal, checkpoint, tail,
listening: what an operator waits for), its CPU seconds (user + system, all threads) and RSS
read from ``/proc/PID/`` at that moment, then killed with ``kill -9`` (nothing written at
stop: the next run finds the same journal). Two untimed starts first: the first writes the
households index (D150) and journals the households in the start note, as any first start
does; the second finds them as indexed and stamps the directory (D188), as any later start
does. ``--serve-clean`` times only the clean rows, on kept journals a full run left. Rows
``crash`` (the tail of 500 inputs) and ``clean``. Python's bytecode of ``eessi`` should be
compiled (``python -m compileall eessi``; a ``pip install`` does it): an environment with
``PYTHONDONTWRITEBYTECODE`` otherwise compiles every module at each start (about 0.3 s here).

**The restart in process, split.** Each run is a fresh process (``--measure``) that reads the
households as ``eessi serve`` does (:func:`eessi.node.household_index.household_source`) and
builds the desk factory (both timed apart: ``households``, ``desk``), then times *journal open
→ restore done → ready*, split into ``checkpoint`` (fresh desk, checkpoint read and decoded)
and ``replay`` (the tail): ``open_journal``, the :class:`~eessi.node.institution.Institution`, and
``start()`` (restore, interrupted sends resumed, pending messages scheduled, endpoint
listening on a free port). It prints wall seconds and the process's CPU seconds (from
``/proc/self/stat``, all threads) and stops the node without writing a checkpoint, so the
journal is the same for every run. **Baseline, same run:** a copy of the journal with its
checkpoint removed (what a journal written before checkpoints looks like), restarted the same
way: the full replay of the input log, ``--runs`` times up to ``--baseline-max`` cases
(10,000), once up to ``--baseline-once-max`` (100,000: about 0.5 ms of CPU per input).
Ratio = full replay median / checkpoint median, after a crash and after a clean stop.

Columns: ``replay`` is the number of inputs the restart replays (the tail after the
checkpoint, or the whole log), ``from`` what the restart starts from: ``crash`` (the checkpoint
and the 500-input tail above), ``clean`` (the checkpoint written by a clean stop: a process
that restarts and stops once, with checkpoints on, runs before these), ``full`` (no checkpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.exchange import write_directory, write_households  # noqa: E402

CNS = "LU:CNS00001"
FUND = "FR:CPAM5701"
#: Cases run at the end with checkpoints off, then a stop without checkpoint (a crash).
TAIL_CASES = 250


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all threads, from ``/proc``."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- building a journal --------------------------------------------------------------------


async def build(where: Path, n: int) -> dict[str, float]:
    from eessi.directory import load_directory
    from eessi.node.inputs import RequestEntitlement
    from eessi.node.institution import NodeOptions
    from eessi.node.network import Network, load_households

    directory = load_directory(write_directory(where))
    households = load_households(write_households(where, n))
    options = NodeOptions()
    started = time.perf_counter()
    async with Network(
        directory,
        where / "journals",
        ids=[CNS, FUND],
        seed=1,
        options=options,
        synchronous="NORMAL",
        households=households,
    ) as net:
        taken = 0

        async def worker(stop: int) -> None:
            nonlocal taken
            while taken < stop:
                i, taken = taken, taken + 1
                await net[FUND].submit(RequestEntitlement(f"bench-{i:05d}/spouse"))

        await asyncio.gather(*(worker(max(0, n - TAIL_CASES)) for _ in range(256)))
        await net.idle()
        cns = net[CNS]
        await cns.stop()  # a clean stop: checkpoint of everything so far
        cns.options = replace(options, checkpoint_every=0)  # from here on: no checkpoint
        await cns.start()
        await asyncio.gather(*(worker(n) for _ in range(256)))
        await net.idle()
        registered = len(net[CNS].desk.registrations)
    if registered != n:
        raise SystemExit(f"the CNS registered {registered} of {n} cases")
    return {"seconds": time.perf_counter() - started}


def journal_facts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        (inputs,) = conn.execute(
            "SELECT count(*) FROM case_events WHERE case_id = '~inputs'"
        ).fetchone()
        row = conn.execute("SELECT input_seq FROM checkpoint").fetchone()
        (messages,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        (items,) = conn.execute("SELECT count(*) FROM checkpoint_items").fetchone()
    at = int(row[0]) if row else 0
    return {"inputs": inputs, "checkpoint_at": at, "tail": inputs - at, "messages": messages,
            "entries": items, "bytes": db.stat().st_size}  # fmt: skip


def without_checkpoint(db: Path, copy: Path) -> None:
    """A copy of the journal (SQLite's backup: what its WAL holds included) without checkpoint:
    the journal a node that never checkpoints would have written."""
    source, target = sqlite3.connect(db), sqlite3.connect(copy)
    try:
        source.backup(target)
        target.execute("DELETE FROM checkpoint_items")
        target.execute("DELETE FROM checkpoint")
        target.commit()
    finally:
        source.close()
        target.close()


def stale_checkpoint(db: Path) -> bool:
    """This code would ignore the journal's checkpoint (other state classes or codec, D50,
    D185; a checkpoint of the previous format is read, D220) and replay the whole log."""
    from eessi.core.cns import CnsState
    from eessi.node.checkpoint import unreadable

    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT header FROM checkpoint").fetchone()
    header = json.loads(row[0]) if row else {}
    return unreadable(header, CNS, CnsState()) is not None


def recheckpoint(where: Path, db: Path) -> None:
    """Write this code's checkpoint where the build left it, before the last ``TAIL_CASES``
    cases' inputs (a kept journal is reused across code changes and runs): a copy of the
    journal cut after that input is replayed in full by a node that checkpoints when it stops,
    and its checkpoint replaces the journal's."""
    seq = journal_facts(db)["inputs"] - 2 * TAIL_CASES
    copy = where / "journals" / "recheckpoint.sqlite"
    without_checkpoint(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM case_events WHERE case_id = '~inputs' AND seq > ?", (seq,))
    run_measure(where, copy, settle=True)  # the whole (cut) log, then a checkpoint at stop
    with sqlite3.connect(db) as conn:
        conn.execute("ATTACH DATABASE ? AS fresh", (str(copy),))
        conn.execute("DELETE FROM checkpoint_items")
        conn.execute("DELETE FROM checkpoint")
        conn.execute("INSERT INTO checkpoint SELECT * FROM fresh.checkpoint")
        conn.execute("INSERT INTO checkpoint_items SELECT * FROM fresh.checkpoint_items")
        conn.commit()
        conn.execute("DETACH DATABASE fresh")
    copy.unlink()
    for extra in ("-wal", "-shm"):
        Path(str(copy) + extra).unlink(missing_ok=True)


# -- one timed restart (a fresh process) ---------------------------------------------------


async def measure(where: Path, db: Path, settle: bool = False) -> dict[str, float]:
    from eessi.directory import load_directory
    from eessi.journal import open_journal
    from eessi.node.desk_factory import desk_factory
    from eessi.node.household_index import household_source
    from eessi.node.institution import Institution, NodeOptions

    t0 = time.perf_counter()
    directory = load_directory(where / "directory.toml")
    entry = directory.get(CNS)
    source = household_source(where / "households")  # as eessi serve --households (D150)
    households = time.perf_counter() - t0
    make_desk = desk_factory(entry, directory, source)
    config = time.perf_counter() - t0
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    journal = await open_journal(db)
    node = Institution(
        entry,
        directory,
        journal,
        make_desk,
        # measuring: no checkpoint at stop (the next run finds the same journal); settling: the
        # clean stop's checkpoint is written
        options=NodeOptions(
            checkpoint_every=None if settle else 0, bind_admin=False, send_workers=1
        ),
    )
    await node.start(host="127.0.0.1", port=0)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    cases = len(node.desk.snapshot().cases)
    replayed = node.stats["replayed"]
    split = dict(node.checkpoints.timings)
    await node.stop()
    await journal.close()
    return {"seconds": seconds, "cpu": cpu, "config": config, "households": households,
            "desk": config - households, "checkpoint": split.get("checkpoint", 0.0),
            "replay": split.get("replay", 0.0), "cases": cases,
            "replayed": replayed}  # fmt: skip


def serve_once(where: Path, db: Path, *, clean_stop: bool = False) -> dict[str, float]:
    """A real ``eessi serve`` process on the journal, timed from its start until it answers
    ``GET /api/health/ready`` with 200; its CPU seconds from ``/proc/PID/stat``. It is then
    killed (``kill -9``: nothing written at stop), or stopped with SIGTERM (``clean_stop``:
    the clean stop's checkpoint)."""
    import signal
    import urllib.request

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "eessi"), "serve", "--institution", CNS,
         "--db", str(db), "--directory", str(where / "directory.toml"),
         "--households", str(where / "households"), "--port", "0", "--host", "127.0.0.1",
         "--tick", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
                break
        if not url:
            raise SystemExit(f"eessi serve exited ({proc.wait()}) before listening")
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health/ready", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.005)
        seconds = time.perf_counter() - t0
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * os.sysconf(
            "SC_PAGE_SIZE"
        )
    finally:
        if clean_stop:
            proc.send_signal(signal.SIGTERM)
        else:
            proc.kill()
        proc.wait(timeout=600)
    return {"seconds": seconds, "cpu": cpu, "rss": rss / 1e6}


def run_measure(where: Path, db: Path, *, settle: bool = False) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--settle" if settle else "--measure", str(where), str(db)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def row(n: int, facts: dict[str, int], kind: str, runs: list[dict[str, float]]) -> None:
    tail = facts["inputs"] if kind == "full" else facts["tail"]
    print(
        f"{n:7d} {facts['inputs']:7d} {tail:6d} {kind:>6}  {figures([r['seconds'] for r in runs])}"
        f"   {statistics.median(r['cpu'] for r in runs):6.2f}  {int(runs[0]['replayed']):7d}"
        f"   split (median s): households {_med(runs, 'households'):.2f}, desk"
        f" {_med(runs, 'desk'):.2f}, checkpoint {_med(runs, 'checkpoint'):.2f},"
        f" replay {_med(runs, 'replay'):.2f}",
        flush=True,
    )


def serve_row(n: int, facts: dict[str, int], kind: str, runs: list[dict[str, float]]) -> None:
    """A row of the end-to-end restart: a real ``eessi serve`` process."""
    tail = facts["tail"]
    print(
        f"{n:7d} {facts['inputs']:7d} {tail:6d} {kind:>6}  {figures([r['seconds'] for r in runs])}"
        f"   {statistics.median(r['cpu'] for r in runs):6.2f}  CPU s min / max"
        f" {min(r['cpu'] for r in runs):.2f} / {max(r['cpu'] for r in runs):.2f},"
        f" RSS {statistics.median(r['rss'] for r in runs):.0f} MB  (eessi serve, start to answer)",
        flush=True,
    )


def _med(runs: list[dict[str, float]], name: str) -> float:
    return statistics.median(r.get(name, 0.0) for r in runs)


def figures(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--large", action="store_true", help="add 100,000 cases to --sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--baseline-max", type=int, default=10_000, help="full replay timed --runs times up to"
    )
    parser.add_argument(
        "--baseline-once-max", type=int, default=100_000, help="then once, up to this size"
    )
    parser.add_argument("--keep", type=Path, help="build the journals here and keep them")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="also time a real eessi serve process from its start until it answers",
    )
    parser.add_argument(
        "--serve-clean",
        action="store_true",
        help="only the clean rows of eessi serve, on kept journals (--keep) whose checkpoint"
        " this code reads and that nothing follows (what a full run leaves)",
    )
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--settle", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-once", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure or args.settle:
        where, db = args.measure or args.settle
        print(json.dumps(asyncio.run(measure(where, db, settle=bool(args.settle)))))
        return
    if args.serve_once:
        where, db = args.serve_once
        print(json.dumps(serve_once(where, db)))
        return
    base = args.keep or Path(tempfile.mkdtemp(prefix="eessi-bench-restart-"))
    base.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"restart benchmark: load average {load[0]:.2f} {load[1]:.2f}, {os.cpu_count()} CPUs")
    print(
        f"{'cases':>7} {'inputs':>7} {'replay':>6} {'from':>6}  wall s: min  median    max"
        "   CPU s  replayed"
    )
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        if args.large and 100_000 not in sizes:
            sizes.append(100_000)
        if args.serve_clean:
            for n in sizes:
                where = base / f"n{n}"
                db = where / "journals" / "LU-CNS00001.sqlite"
                facts = journal_facts(db)
                if stale_checkpoint(db) or facts["tail"] != 0:
                    raise SystemExit(f"{db}: no clean checkpoint of this code (run in full)")
                for _ in range(2):  # households indexed, then checked as indexed (D150, D188)
                    serve_once(where, db)
                clean_e2e = [serve_once(where, db) for _ in range(args.runs)]
                serve_row(n, facts, "clean", clean_e2e)
            return
        for n in sizes:
            where = base / f"n{n}"
            db = where / "journals" / "LU-CNS00001.sqlite"
            if not db.exists():
                shutil.rmtree(where, ignore_errors=True)
                where.mkdir(parents=True)
                built = asyncio.run(build(where, n))
                print(f"  (built {n} cases in {built['seconds']:.0f} s)", flush=True)
            if stale_checkpoint(db) or journal_facts(db)["tail"] == 0:
                recheckpoint(where, db)
                print(f"  (checkpoint of {n} cases written again by this code)", flush=True)
            facts = journal_facts(db)
            if facts["tail"] == 0:
                raise SystemExit(f"{db} has no tail after its checkpoint: build it again")
            crash = [run_measure(where, db) for _ in range(args.runs)]
            row(n, facts, "crash", crash)
            if args.serve:
                for _ in range(2):  # households indexed and noted (D150), then stamped (D188)
                    serve_once(where, db)
                crash_e2e = [serve_once(where, db) for _ in range(args.runs)]
                serve_row(n, journal_facts(db), "crash", crash_e2e)
            run_measure(where, db, settle=True)  # a clean stop: checkpoint of everything
            clean = [run_measure(where, db) for _ in range(args.runs)]
            row(n, journal_facts(db), "clean", clean)
            if args.serve:
                clean_e2e = [serve_once(where, db) for _ in range(args.runs)]
                serve_row(n, journal_facts(db), "clean", clean_e2e)
            runs = args.runs if n <= args.baseline_max else 1 if n <= args.baseline_once_max else 0
            if runs:
                copy = where / "journals" / "full-replay.sqlite"
                without_checkpoint(db, copy)
                full = [run_measure(where, copy) for _ in range(runs)]
                row(n, journal_facts(copy), "full", full)
                if full[0]["cases"] != clean[0]["cases"]:
                    raise SystemExit("the full replay and the checkpoint disagree on the cases")
                full_median = statistics.median(r["seconds"] for r in full)
                print(
                    f"          ratio full replay / checkpoint: after a crash"
                    f" {full_median / statistics.median(r['seconds'] for r in crash):.1f},"
                    f" after a clean stop"
                    f" {full_median / statistics.median(r['seconds'] for r in clean):.1f}"
                )
                copy.unlink()
            print(
                f"          journal {facts['bytes'] / 1e6:.0f} MB, {facts['messages']} messages,"
                f" checkpoint {journal_facts(db)['entries']} rows;"
                f" configuration (households, desk factory) {clean[0]['config']:.2f} s",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
