"""Benchmark: the CNS as 1 and 2 processes on one PostgreSQL journal, and as 1 on SQLite.

Run: ``.venv/bin/python bench/shared.py [--cases N] [--rounds R]``.

Each round: a directory on free loopback ports, ``N`` generated households (R17: a spouse in
the RNPP living in France for even ``n``, in Portugal for odd ``n``), the French and the
Portuguese mock funds as ``eessi serve`` on SQLite (two: one fund process would be the limit,
as it handles as many SEDs as the CNS), and the CNS as

* ``sqlite-1``: one ``eessi serve`` on a SQLite file (the embedded default; the baseline);
* ``pg-1``: one ``eessi serve`` on a fresh PostgreSQL database;
* ``pg-1-shared``: one ``eessi serve --shared`` (what partitions cost a lone process: it owns
  all 8);
* ``pg-2-shared``: two ``eessi serve --shared`` on one fresh database, sharing the CNS's port
  (``SO_REUSEPORT``): both accept, each owns 4 of the 8 partitions of the cases (households by
  hash, docs/deployment.md, D145-D147); the busier process's share of the CNS's CPU is printed
  too (50 % is an even split).

Each fund is asked for all its S072s at once (``POST /api/requests/batch``); a case is done
when its fund's S073 is acknowledged. Printed per configuration, min/median/max over ``R``
rounds (default 3): cases/s (``N`` / time from the request to the last case done), the CNS's
CPU per SED (all its processes, user + system from /proc; 3 SEDs per case) and the PostgreSQL
server's CPU per SED (the postmaster and its backends), and the funds' (both together) for
comparison. Then the arithmetic of the machine: every participant's CPU per case together
(CNS, PostgreSQL, funds), the rate the machine's cores could carry at that cost with nothing
else running (cores / CPU per case), and the share of the machine's CPU that processes outside
the bench used during the round (/proc/stat: other sessions' work). Ratios: pg-2-shared /
pg-1-shared, pg-1 / sqlite-1 (medians), and the best ratio the machine allows at the measured
CPU costs with nothing else running (one CNS process on one core at most, every participant
sharing the cores), against the goal (2 processes at 1.6 x one).

Journals: SQLite ``synchronous=NORMAL``; the PostgreSQL server is the tests' throw-away
cluster (``tests/postgres_cluster.py``: ``fsync=off``), so neither waits for the disk: this
measures CPU and coordination, not storage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402
from exchange import cpu_seconds, write_directory, write_households  # noqa: E402
from postgres_cluster import PostgresCluster, start_cluster  # noqa: E402

CNS = "LU:CNS00001"
#: The mock funds and their country: household ``n`` has its spouse in ``FUNDS[n % 2]``'s.
FUNDS = (("FR:CPAM5701", "FR"), ("PT:ISS00001", "PT"))
SEDS_PER_CASE = 3
CONFIGS = ("sqlite-1", "pg-1", "pg-1-shared", "pg-2-shared")


def server_cpu(cluster: PostgresCluster) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster (with its reaped children)
    and its live backends."""
    pid = int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    total = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(stat[1]) == pid:
            total += (int(stat[11]) + int(stat[12])) / tick
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core (/proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / tick, total / tick


def serve(ir_id: str, directory: Path, households: Path, store: list[str], log: Path) -> Any:
    return subprocess.Popen(
        [
            sys.executable, "-m", "eessi", "serve", "--institution", ir_id,
            "--directory", str(directory), "--households", str(households), *store,
            "--synchronous", "NORMAL", "--tick", "0",
        ],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=str(ROOT),
    )  # fmt: skip


def listening(proc: Any, log: Path) -> str:
    line = proc.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        raise SystemExit(f"a node did not start: {line!r}; see {log}")
    return match.group(1)


def households_of_both(where: Path, cases: int) -> Path:
    """``cases`` R17 households, spouses alternately in France and Portugal."""
    import json

    folder = write_households(where, cases)
    for n in range(cases):
        path = folder / f"bench-{n:05d}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["members"][0]["country_of_residence"] = FUNDS[n % 2][1]
        path.write_text(json.dumps(data), encoding="utf-8")
    return folder


def done_cases(fund_db: Path) -> int:
    with sqlite3.connect(f"file:{fund_db}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND sed_type = 'S073'"
            " AND status = 'acknowledged'"
        ).fetchone()
    return int(row[0])


async def request_all(url: str, people: list[int]) -> None:
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(people), 1000):
            body = [
                {"kind": "request_entitlement", "person": f"bench-{i:05d}/spouse"}
                for i in people[start : start + 1000]
            ]
            async with session.post(url + "/api/requests/batch", json=body) as resp:
                answer = await resp.json()
                if resp.status != 202 or answer["accepted"] != len(body):
                    raise SystemExit(f"the fund refused requests: {answer}")


def partitions_owned(url: str, processes: int) -> bool:
    """Every partition of the CNS owned, and by all ``processes`` (the shares settled)."""

    async def read() -> bool:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT holder FROM partitions")
            live = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
                " AND granted AND objid::bigint < 1000 AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        finally:
            await conn.close()
        return len(rows) == 8 and int(live) == 8 and len({r[0] for r in rows}) == processes

    return asyncio.run(read())


def one_round(
    config: str, cases: int, households: Path, cluster: PostgresCluster
) -> tuple[float, float, float, float, float, float]:
    """(cases/s, CNS CPU per SED, PostgreSQL CPU per SED, the busier CNS process's share of the
    CNS's CPU, the funds' CPU per SED, the share of the machine's CPU used by processes
    outside the bench) of one round of ``config``."""
    with tempfile.TemporaryDirectory(prefix="eessi-bench-shared-") as tmp:
        work = Path(tmp)
        directory = write_directory(work)
        procs: list[Any] = []
        try:
            fund_dbs = [work / f"fund{i}.sqlite" for i in range(len(FUNDS))]
            funds = [
                serve(ir, directory, households, ["--db", str(db)], work / f"fund{i}.log")
                for i, ((ir, _), db) in enumerate(zip(FUNDS, fund_dbs, strict=True))
            ]
            procs.extend(funds)
            if config == "sqlite-1":
                stores = [["--db", str(work / "cns.sqlite")]]
            else:
                url = cluster.new_database("bench")
                shared = ["--shared"] if config.endswith("shared") else []
                stores = [["--journal", url, *shared]] * int(config.split("-")[1])
            cns = [
                serve(CNS, directory, households, s, work / f"cns{i}.log")
                for i, s in enumerate(stores)
            ]
            procs.extend(cns)
            fund_urls = [listening(f, work / f"fund{i}.log") for i, f in enumerate(funds)]
            for i, p in enumerate(cns):
                listening(p, work / f"cns{i}.log")
            started = time.perf_counter()
            if config.endswith("shared"):  # wait for the partitions to be shared out
                while not partitions_owned(url, len(cns)):
                    time.sleep(0.1)
                    if time.perf_counter() - started > 60:
                        raise SystemExit(f"{config}: the partitions were not shared in 60 s")
            each0 = {p.pid: cpu_seconds(p.pid) for p in cns}
            pg0 = server_cpu(cluster)
            start = time.perf_counter()
            funds0 = sum(cpu_seconds(f.pid) for f in funds)
            busy0, total0 = machine_busy()

            async def request_both() -> None:
                await asyncio.gather(
                    *(
                        request_all(url, list(range(i, cases, len(FUNDS))))
                        for i, url in enumerate(fund_urls)
                    )
                )

            asyncio.run(request_both())
            while sum(done_cases(db) for db in fund_dbs) < cases:
                time.sleep(0.05)
                if time.perf_counter() - start > 600:
                    raise SystemExit(f"{config}: not all cases done within 600 s")
            elapsed = time.perf_counter() - start
            each = {p.pid: cpu_seconds(p.pid) - each0[p.pid] for p in cns}
            cpu = sum(each.values())
            pg = server_cpu(cluster) - pg0 if config != "sqlite-1" else 0.0
            share = max(each.values()) / cpu
            fund_cpu = sum(cpu_seconds(f.pid) for f in funds) - funds0
            busy1, total1 = machine_busy()
            others = max(0.0, (busy1 - busy0) - cpu - pg - fund_cpu) / (total1 - total0)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    seds = SEDS_PER_CASE * cases
    return cases / elapsed, cpu / seds, pg / seds, share, fund_cpu / seds, others


def summary(values: list[float], unit: str, scale: float = 1.0) -> str:
    v = [x * scale for x in values]
    return f"min {min(v):8.1f}  median {statistics.median(v):8.1f}  max {max(v):8.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cluster = start_cluster()
    results: dict[str, list[tuple[float, ...]]] = {c: [] for c in CONFIGS}
    try:
        with tempfile.TemporaryDirectory(prefix="eessi-bench-households-") as tmp:
            households = households_of_both(Path(tmp), args.cases)
            for _ in range(args.rounds):
                for config in CONFIGS:  # interleaved: a slower minute hits all alike
                    results[config].append(one_round(config, args.cases, households, cluster))
    finally:
        cluster.stop()
    print(
        f"the CNS on 1 and 2 processes: {args.cases} R17 cases per round, {args.rounds} rounds,"
        f" {os.cpu_count()} cores"
    )
    medians = {}
    caps = {}
    cores = os.cpu_count() or 1
    for config in CONFIGS:
        rows = results[config]
        rate = [r[0] for r in rows]
        medians[config] = statistics.median(rate)
        print(f"  {config:11}  cases/s    {summary(rate, '')}")
        print(f"               CNS CPU    {summary([r[1] for r in rows], 'µs/SED', 1e6)}")
        if config != "sqlite-1":
            print(f"               PG CPU     {summary([r[2] for r in rows], 'µs/SED', 1e6)}")
        print(f"               funds CPU  {summary([r[4] for r in rows], 'µs/SED', 1e6)}")
        if config == "pg-2-shared":
            print(f"               busier     {summary([r[3] for r in rows], '% of CNS CPU', 100)}")
        per_case = [SEDS_PER_CASE * (r[1] + r[2] + r[4]) for r in rows]
        cap = [cores / c for c in per_case]
        caps[config] = statistics.median(cap)
        print(f"               all CPU    {summary(per_case, 'ms/case', 1e3)}")
        print(f"               {cores}-core cap {summary(cap, 'cases/s')}")
        print(f"               others     {summary([r[5] for r in rows], '% of the machine', 100)}")
    print(
        "  ratios (median cases/s): pg-2-shared / pg-1-shared ="
        f" {medians['pg-2-shared'] / medians['pg-1-shared']:.2f},"
        f" pg-1-shared / pg-1 = {medians['pg-1-shared'] / medians['pg-1']:.2f},"
        f" pg-1 / sqlite-1 = {medians['pg-1'] / medians['sqlite-1']:.2f}"
    )
    # The bounds on a machine with nothing else running (medians of the CPU figures): one CNS
    # process runs on one core at most (one event loop), and every participant of the run
    # (CNS, PostgreSQL, funds) shares the machine's cores.
    one = results["pg-1-shared"]
    cns_case = statistics.median(SEDS_PER_CASE * r[1] for r in one)
    alone = min(1 / cns_case, caps["pg-1-shared"])
    best = caps["pg-2-shared"] / alone
    print(
        f"  bounds on {cores} idle cores: 1 process <= min(1 core / its CNS CPU per case"
        f" = {1 / cns_case:.1f}, {cores} cores / all CPU per case = {caps['pg-1-shared']:.1f})"
        f" = {alone:.1f} cases/s; 2 processes <= {caps['pg-2-shared']:.1f} cases/s;"
        f" best ratio {best:.2f} (goal 1.6: {'reachable' if best >= 1.6 else 'not reachable'}"
        f" on {cores} cores)"
    )


if __name__ == "__main__":
    main()
