"""What the mock fund did in one of ``bench/inbound.py``'s windows (D460).

The fund runs with ``bench/answer_probe/timeline.py`` (``EESSI_BENCH_TIMELINE``): a JSON-lines
file of its collections, checkpoints and counters over time. The bench reads each thread's CPU
itself at the window's edges (``/proc/<pid>/task/<tid>/schedstat``: nanoseconds on a CPU, not
the 10 ms ticks of ``stat``), and :func:`breakdown` joins both into one :class:`Window`: what
the fund spent per request, by thread, and the periodic costs that fell inside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "WINDOW_HEADER",
    "Window",
    "breakdown",
    "format_detail",
    "format_window",
    "name_of",
    "run_seconds",
    "speed",
    "thread_cpu",
]


def thread_cpu(pid: int) -> dict[int, tuple[float, ...]]:
    """Per thread of ``pid`` so far: (CPU seconds from ``schedstat``, user and system seconds
    from ``stat``, voluntary and involuntary context switches from ``status``)."""
    out: dict[int, tuple[float, ...]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/schedstat", encoding="ascii") as fh:
                run = int(fh.read().split()[0]) / 1e9
            with open(f"{base}/stat", encoding="ascii") as fh:
                fields = fh.read().rpartition(")")[2].split()
            with open(f"{base}/status", encoding="ascii") as fh:
                status = dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
        except (OSError, ValueError, IndexError):  # the thread ended
            continue
        out[int(tid)] = (
            run,
            int(fields[11]) / tick,
            int(fields[12]) / tick,
            int(status.get("voluntary_ctxt_switches", "0")),
            int(status.get("nonvoluntary_ctxt_switches", "0")),
        )
    return out


def run_seconds(pid: int) -> float:
    """The CPU seconds of all of ``pid``'s threads so far (``schedstat``, ns)."""
    total = 0.0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return total
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
    return total


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line being written
            continue
    return out


@dataclass
class Window:
    """One measured window: from its start until everything posted in it was settled."""

    requests: int
    seconds: float  # wall time, start to settled
    cpu: float  # all threads
    by_thread: dict[str, float]  # loop / writer / reader / other
    #: per thread group: (user s, system s, voluntary, involuntary context switches)
    detail: dict[str, list[float]] = field(default_factory=dict)
    gc: dict[int, tuple[int, float]] = field(default_factory=dict)  # gen -> (count, CPU s)
    checkpoints: list[tuple[float, float]] = field(default_factory=list)  # (loop, writer) s
    counters: dict[str, float] = field(default_factory=dict)  # deltas over the window
    state: dict[str, Any] = field(default_factory=dict)  # the last sample in the window
    unit_us: float | None = None  # the machine's speed: median CPU of speed_probe's unit
    bench_ms: float | None = None  # the bench process's own CPU per request (clients, sink)

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / max(self.requests, 1)


def name_of(tid: int, pid: int, names: dict[int, str]) -> str:
    """``loop`` (the main thread), ``writer``, ``reader`` (the journal's) or ``other``."""
    if tid == pid:
        return "loop"
    name = names.get(tid, "")
    if name.startswith("eessi-journal-writer"):
        return "writer"
    if name.startswith("eessi-journal-reader"):
        return "reader"
    return "other"


def breakdown(
    timeline: Path,
    pid: int,
    start: float,
    end: float,
    cpu_start: dict[int, tuple[float, ...]],
    cpu_end: dict[int, tuple[float, ...]],
    requests: int,
) -> Window:
    """The window ``[start, end]`` (``time.monotonic()``, the same clock in both processes)."""
    records = _read(timeline)
    names: dict[int, str] = {}
    for r in records:
        if r.get("event") == "threads":
            names.update({int(k): v for k, v in r["threads"].items()})
    by_thread: dict[str, float] = {}
    detail: dict[str, list[float]] = {}
    for tid, now in cpu_end.items():
        key = name_of(tid, pid, names)
        then = cpu_start.get(tid, (0.0,) * len(now))
        by_thread[key] = by_thread.get(key, 0.0) + now[0] - then[0]
        row = detail.setdefault(key, [0.0] * (len(now) - 1))
        for i in range(1, len(now)):
            row[i - 1] += now[i] - then[i]
    window = Window(requests, end - start, sum(by_thread.values()), by_thread, detail)
    samples = [r for r in records if r.get("event") == "sample"]
    before = [s for s in samples if s["t"] <= start]
    inside = [s for s in samples if s["t"] <= end]
    first = before[-1] if before else (samples[0] if samples else {})
    last = inside[-1] if inside else {}
    for key, value in last.items():
        if isinstance(value, (int, float)) and key not in ("t", "wal_bytes", "open_cases"):
            window.counters[key] = value - first.get(key, 0)
    for key in ("stats",):
        a, b = first.get(key, {}), last.get(key, {})
        for name, value in b.items():
            window.counters[f"stats.{name}"] = value - a.get(name, 0)
    window.state = {k: last.get(k) for k in ("open_cases", "wal_bytes", "checkpoint_pending")}
    for r in records:
        if not start <= r.get("t", -1.0) <= end:
            continue
        if r["event"] == "gc":
            count, cpu = window.gc.get(r["gen"], (0, 0.0))
            window.gc[r["gen"]] = (count + 1, cpu + r["cpu"])
        elif r["event"] == "checkpoint":
            window.checkpoints.append((r["loop"], r["writer"]))
    return window


def format_detail(w: Window) -> str:
    """The loop's and the writer's user / system ms and context switches (voluntary,
    involuntary) per request."""
    per = 1 / max(w.requests, 1)
    parts = []
    for key in ("loop", "writer"):
        d = w.detail.get(key)
        if d:
            parts.append(
                f"{key} user {1000 * d[0] * per:.2f} sys {1000 * d[1] * per:.2f} ms,"
                f" switches {d[2] * per:.2f} vol {d[3] * per:.2f} invol"
            )
    return "          " + "; ".join(parts)


WINDOW_HEADER = (
    "  window  reqs  CPU/req  loop  writer other |  ckpts (ms)  gc0/1/2 (ms)    groups/SED"
    "  in/batch  WAL resets  conns srv/cli  retried  open cases  unit us  bench/req  fund/bench"
)


def format_window(label: str, w: Window) -> str:
    per = 1000 / max(w.requests, 1)
    t = w.by_thread
    gc_counts = "/".join(str(w.gc.get(g, (0, 0.0))[0]) for g in (0, 1, 2))
    gc_ms = 1000 * sum(cpu for _, cpu in w.gc.values())
    ck_ms = 1000 * sum(a + b for a, b in w.checkpoints)
    c = w.counters
    groups = c.get("group_commits", 0) / max(w.requests, 1)
    batch = c.get("batch_inputs", 0) / max(c.get("batches", 0), 1)
    other = t.get("other", 0.0) + t.get("reader", 0.0)
    return (
        f"  {label:>6s} {w.requests:5d}  {w.cpu_ms:5.2f}  {per * t.get('loop', 0.0):5.2f}"
        f"  {per * t.get('writer', 0.0):5.2f}  {per * other:5.2f} |"
        f"  {len(w.checkpoints):2d} ({ck_ms:5.0f})  {gc_counts:>6s} ({gc_ms:4.0f})"
        f"  {groups:9.2f}  {batch:8.1f}  {c.get('wal_seq', 0):9.0f}"
        f"  {c.get('server_connections', 0):6.0f}/{c.get('client_connections', 0):<4.0f}"
        f"  {c.get('stats.retried', 0):7.0f}  {w.state.get('open_cases') or 0:10d}"
        f"  {w.unit_us or float('nan'):7.0f}  {w.bench_ms or float('nan'):9.2f}"
        f"  {w.cpu_ms / (w.bench_ms or float('nan')):10.2f}"
    )


# -- the machine's speed over the windows -------------------------------------------------------


def _unit() -> int:
    """A fixed piece of interpreted work (dict and list traffic, calls, small strings): what
    the fund's loop does most, without I/O."""
    table: dict[str, int] = {}
    for i in range(3000):
        key = f"k{i % 500}"
        table[key] = table.get(key, 0) + len(key)
    return sum(sorted(table.values())[:50])


def speed_probe(path: str, period: float = 0.1) -> None:
    """``python bench/fund_windows.py --speed FILE``: the CPU time of :func:`_unit` (thread
    CPU, ns), once per ``period`` (about 1 % of a core), as JSON lines ``[t, ns]``: how fast
    this machine runs the same interpreted work at each moment. A window whose fund spends
    more per request while the same unit costs more too was slowed by the machine (other
    processes on the shared cores and caches, the hypervisor), not by the fund's own work."""
    import time

    with open(path, "a", encoding="utf-8") as fh:
        while True:
            start = time.thread_time_ns()
            _unit()
            ns = time.thread_time_ns() - start
            fh.write(f"[{time.monotonic()}, {ns}]\n")
            fh.flush()
            time.sleep(period)


def speed(path: Path, start: float, end: float) -> float | None:
    """The median CPU µs of one unit between ``start`` and ``end``."""
    if not path.exists():
        return None
    values: list[float] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            t, ns = (float(v) for v in json.loads(line))
        except ValueError:
            continue
        if start <= t <= end:
            values.append(ns / 1000)
    if not values:
        return None
    values.sort()
    return values[len(values) // 2]


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--speed":
        speed_probe(sys.argv[2])
