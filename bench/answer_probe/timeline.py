"""The mock fund's state over time, for ``bench/inbound.py``'s windows (D460).

Started by ``sitecustomize`` in the fund when ``EESSI_BENCH_TIMELINE=<file>`` is set (the bench
sets it; ``eessi serve`` knows nothing of it). It appends JSON lines to the file:

* ``{"event": "threads", ...}``: each thread's native ID and name (the bench reads the threads'
  CPU from ``/proc/<pid>/task/<tid>/stat`` itself, at its windows' edges);
* ``{"event": "gc", "t": <monotonic>, "gen": g, "cpu": s, "thread": name}``: each collection of
  the cyclic collector (``gc.callbacks``), its start time and the CPU of the thread it ran on;
* ``{"event": "checkpoint", "t": ..., "loop": s, "writer": s, "entries": n}``: each checkpoint of
  the desk (``eessi.node.restore.checkpoint``): its start, the loop thread's CPU in its steps,
  the writer thread's CPU in ``write_checkpoint``;
* ``{"event": "sample", "t": ..., ...}`` every 0.1 s: counters that move per request — the
  worker's batches and their inputs, the writer's group commits and their CPU, the SQLite WAL's
  resets (its header's checkpoint sequence number: one per completed WAL checkpoint that the
  next writer restarted from the top) and the WAL file's size, the node's stats (sent,
  acknowledged, retried, failed...), the desk's open cases, the queues, the connections the
  fund's server accepted and the fund's own client opened.

Its own cost, charged to the fund's figures: one ``gc.callbacks`` hook (two clock reads per
collection), a counter and two clock reads per group commit and per batch, one thread waking ten
times a second (a few ``stat`` reads and a line written). That thread's CPU is in the windows'
``other`` column with the journal's reader (0.03-0.11 ms per request in docs/performance.md,
2026-12-06 23:20, var); ``bench/inbound.py --no-timeline`` runs the fund without it.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

_COUNTS: dict[str, float] = {}
_LOCK = threading.Lock()
_LINES: list[str] = []
_NODES: list[Any] = []


def _bump(name: str, by: float = 1) -> None:
    _COUNTS[name] = _COUNTS.get(name, 0) + by


def _emit(record: dict[str, Any]) -> None:
    line = json.dumps(record)
    with _LOCK:
        _LINES.append(line)


def _install_gc() -> None:
    started: dict[int, tuple[float, float]] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            started[ident] = (time.monotonic(), time.thread_time())
            return
        begun = started.pop(ident, None)
        if begun is None:
            return
        _emit(
            {
                "event": "gc",
                "t": begun[0],
                "gen": info["generation"],
                "cpu": time.thread_time() - begun[1],
                "collected": info.get("collected", 0),
                "thread": threading.current_thread().name,
            }
        )

    gc.callbacks.append(on_gc)


def _install_hooks() -> None:
    while not {"eessi.node.institution", "eessi.node.worker"} <= sys.modules.keys():
        time.sleep(0.01)
    time.sleep(0.2)  # the node's modules finished importing
    import eessi.journal.sqlite as sqlite_journal
    import eessi.node.institution as institution
    import eessi.node.worker as worker

    run_group = sqlite_journal._run_group

    def counted_group(conn: Any, ops: list[Any]) -> Any:
        start = time.thread_time()
        try:
            return run_group(conn, ops)
        finally:
            _bump("group_commits")
            _bump("group_ops", len(ops))
            _bump("group_cpu", time.thread_time() - start)

    sqlite_journal._run_group = counted_group

    write_checkpoint = getattr(sqlite_journal, "write_checkpoint")  # noqa: B009
    writer_cpu: list[float] = []

    def timed_write(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return write_checkpoint(*args, **kwargs)
        finally:
            writer_cpu.append(time.thread_time() - start)

    setattr(sqlite_journal, "write_checkpoint", timed_write)  # noqa: B010

    inner_checkpoint = getattr(worker, "checkpoint")  # noqa: B009

    class _TimedCheckpoint:
        """``await checkpoint(node)``, timed on the loop thread step by step."""

        def __init__(self, node: Any) -> None:
            self.node = node

        def __await__(self) -> Generator[Any, Any, None]:
            t = time.monotonic()
            writer_cpu.clear()
            spent = 0.0
            it = inner_checkpoint(self.node).__await__()
            value: Any = None
            thrown: BaseException | None = None
            while True:
                start = time.thread_time()
                try:
                    step = it.send(value) if thrown is None else it.throw(thrown)
                except StopIteration:
                    spent += time.thread_time() - start
                    break
                spent += time.thread_time() - start
                try:
                    value, thrown = (yield step), None
                except BaseException as exc:  # passed on to the checkpoint
                    value, thrown = None, exc
            _emit(
                {
                    "event": "checkpoint",
                    "t": t,
                    "loop": spent,
                    "writer": sum(writer_cpu),
                    "pending_after": self.node.checkpoints.pending,
                }
            )

    setattr(worker, "checkpoint", _TimedCheckpoint)  # noqa: B010

    process = worker.Worker.process

    async def counted_process(self: Any, batch: list[Any]) -> None:
        _bump("batches")
        _bump("batch_inputs", len(batch))
        await process(self, batch)

    worker.Worker.process = counted_process  # type: ignore[method-assign]

    init = institution.Institution.__init__

    def remember(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        _NODES.append(self)

    institution.Institution.__init__ = remember  # type: ignore[method-assign]

    try:
        import eessi.transport.limits as limits
        import eessi.transport.poster as poster
    except ImportError:
        return
    made = limits._Guarded.connection_made

    def accepted(self: Any, transport: Any) -> None:
        _bump("server_connections")
        made(self, transport)

    limits._Guarded.connection_made = accepted  # type: ignore[method-assign]
    for name in dir(poster):
        cls: Any = getattr(poster, name)
        if isinstance(cls, type) and name.startswith("_") and "connection_made" in vars(cls):
            inner = vars(cls)["connection_made"]

            def opened(self: Any, transport: Any, _inner: Any = inner) -> None:
                _bump("client_connections")
                _inner(self, transport)

            setattr(cls, "connection_made", opened)  # noqa: B010


def _wal_seq(path: str) -> tuple[int, int]:
    """(checkpoint sequence number in the WAL header, WAL size), or (-1, 0)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        size = os.path.getsize(path)
    except OSError:
        return -1, 0
    if len(head) < 16:
        return -1, size
    return int.from_bytes(head[12:16], "big"), size


def _sample(wal: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "sample", "t": time.monotonic()}
    out.update(_COUNTS)
    if wal is not None:
        out["wal_seq"], out["wal_bytes"] = _wal_seq(wal)
    for node in _NODES[:1]:
        try:
            out["stats"] = dict(node.stats)
            out["open_cases"] = len(node.desk.snapshot().cases)
            out["worker_queue"] = node.worker.queue.qsize()
            out["outbox_queue"] = node.outbox.queue.qsize()
            out["busy"] = getattr(node, "_busy", None)
            out["checkpoint_pending"] = node.checkpoints.pending
        except Exception as exc:  # a field renamed: say so, keep sampling
            out["error"] = repr(exc)
    return out


def _run(path: str) -> None:
    db = None
    if "--db" in sys.argv:
        db = sys.argv[sys.argv.index("--db") + 1] + "-wal"
    _install_hooks()
    with open(path, "a", encoding="utf-8") as fh:
        while True:
            threads = {t.native_id: t.name for t in threading.enumerate()}
            _emit({"event": "threads", "t": time.monotonic(), "threads": threads})
            for _ in range(10):
                time.sleep(0.1)
                line = json.dumps(_sample(db))
                with _LOCK:
                    lines, _LINES[:] = list(_LINES), []
                lines.append(line)
                fh.write("\n".join(lines) + "\n")
                fh.flush()


def _cache_size(kib: int) -> None:
    """``EESSI_BENCH_SQLITE_CACHE=<KiB>`` (an experiment, D461): every SQLite connection the
    fund opens gets ``PRAGMA cache_size = -<KiB>`` (SQLite's default: 2,000 KiB)."""
    import sqlite3

    connect = sqlite3.connect

    def connect_with_cache(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(*args, **kwargs)
        conn.execute(f"PRAGMA cache_size = -{kib}")
        return conn

    sqlite3.connect = connect_with_cache  # type: ignore[assignment]


def start(path: str) -> None:
    if os.environ.get("EESSI_BENCH_SQLITE_CACHE"):
        _cache_size(int(os.environ["EESSI_BENCH_SQLITE_CACHE"]))
    _install_gc()
    threading.Thread(target=_run, args=(path,), name="bench-timeline", daemon=True).start()
