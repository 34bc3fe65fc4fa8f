"""``bench/inbound.py --profile answer``: the thread CPU time of the answer path, per call.

Put on the mock fund's ``PYTHONPATH`` by the bench (never by ``eessi serve`` itself) with
``EESSI_BENCH_PROBE=<file>``: once the node's modules are imported, the functions below are
wrapped to add up the CPU time of their own thread (``time.thread_time``) per call; for a
coroutine, the CPU of its steps (what it runs until each ``await`` gives the loop back, its
awaited callees included; the loop's I/O callbacks are not). The totals are written to the
file as JSON every quarter of a second: ``{label: [seconds, calls]}``.

Besides the answer's steps (``build:``, ``send:``), the inbound side's (D360): the POST's
handler and the accept (``inbound:``), the worker's batch (``process:``) and the statements of
its transaction (``commit:``), the group-commit task, the outcome counters and lines (``ops:``),
the journal writer's group commits (``thread:``, on the writer thread), and each thread's CPU
since the probe started, from ``/proc`` (``thread CPU:``, per answer built). D400: the SED
decode split into the one-pass decoder and the general one (it should never run on a regular
document), the cyclic collector's collections on the loop thread (``gc:``), and with
``EESSI_BENCH_PROBE_DECODE_TWICE=1`` each SED decoded twice, both timed (:func:`_decode_twice`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

_OUT = os.environ.get("EESSI_BENCH_PROBE")
_TOTALS: dict[str, list[float]] = {}


def _add(label: str, seconds: float) -> None:
    row = _TOTALS.setdefault(label, [0.0, 0])
    row[0] += seconds
    row[1] += 1


class _Timed:
    def __init__(self, coro: Any, label: str) -> None:
        self.coro = coro
        self.label = label

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self.coro.__await__()
        value: Any = None
        exc: BaseException | None = None
        spent = 0.0
        while True:
            start = time.thread_time()
            try:
                step = it.send(value) if exc is None else it.throw(exc)
            except StopIteration as stop:
                _add(self.label, spent + time.thread_time() - start)
                return stop.value
            except BaseException:
                _add(self.label, spent + time.thread_time() - start)
                raise
            spent += time.thread_time() - start
            try:
                value = yield step
                exc = None
            except BaseException as thrown:  # passed on to the coroutine
                exc = thrown
                value = None


def _wrap(
    owner: Any,
    name: str,
    label: str,
    *,
    coroutine: bool = False,
    detail: Callable[..., str] | None = None,
) -> None:
    """Time ``owner.name``; ``detail(*args)``: put in the label (``{}``) per call."""
    inner: Callable[..., Any] = getattr(owner, name)

    if coroutine:

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            named = label.format(detail(*args)) if detail is not None else label
            return await _Timed(inner(*args, **kwargs), named)

        setattr(owner, name, timed_async)
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            _add(label, time.thread_time() - start)

    setattr(owner, name, timed)


def _install() -> None:
    while not {"eessi.node.institution", "eessi.node.outbox"} <= sys.modules.keys():
        time.sleep(0.01)
    time.sleep(0.2)  # the node's modules finished importing
    from eessi.mock.interceptors import MockOutbound
    from eessi.node.outbox import Outbox
    from eessi.node.worker import Worker
    from eessi.ops.observe import ObservedJournal
    from eessi.sed.documents import Document

    _wrap(Outbox, "build", "build: the answer's message and outbox row (whole)")
    _wrap(Document, "to_xml", "build: SED encode (Document.to_xml)")
    _wrap(MockOutbound, "outbound", "build: mock rules (MockOutbound.outbound)")
    _wrap(Outbox, "message_id", "build: message ID")
    _wrap(Outbox, "version_for", "build: version for the receiver")
    _wrap(Outbox, "deliver", "send: one attempt (whole)", coroutine=True)
    _wrap(Outbox, "message", "send: OutboundMessage of the record")
    _wrap(
        ObservedJournal,
        "update_status",
        "send: status write ({}), loop side",
        coroutine=True,
        detail=lambda _journal, _mid, status, *_rest: str(status.value),
    )
    _wrap(Worker, "commit", "worker: batch commit, loop side", coroutine=True)
    try:
        from eessi.as4.node_transport import As4Transport
        from eessi.as4.transport import As4Sender
    except ImportError:
        pass
    else:
        _wrap(As4Transport, "envelope", "build: AS4 envelope (As4Transport.envelope)")
        _wrap(As4Transport, "send", "send: AS4 transport send (POST + receipt)", coroutine=True)
        _wrap(As4Sender, "_classify", "send: receipt check (As4Sender._classify)")
    _install_inbound()
    assert _OUT is not None
    start = _threads_cpu()
    while True:
        time.sleep(0.25)
        _thread_totals(start)
        tmp = _OUT + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(_TOTALS, fh)
        os.replace(tmp, _OUT)


def _install_inbound() -> None:
    """The inbound side (the glue engineer's probes): the accept, the worker's batch, the
    journal writer's group commit, the outcome lines and counters."""
    import eessi.journal.sqlite as sqlite_journal
    import eessi.node.inbox as inbox
    import eessi.node.worker as worker
    from eessi.node.inbox import Inbox
    from eessi.node.worker import Worker
    from eessi.ops.observe import ObservedJournal

    _wrap(Inbox, "receive", "inbound: accept, loop side (Inbox.receive) (whole)", coroutine=True)
    _wrap(inbox, "validate_or_raise", "inbound: SED parse and validate (validate_or_raise)")
    _wrap(inbox, "delivered_record", "inbound: journal record (delivered_record)")
    _wrap(
        ObservedJournal,
        "accept_inbound",
        "inbound: journal accept, loop side (ObservedJournal.accept_inbound)",
        coroutine=True,
    )
    _wrap(
        Worker, "process", "process: one batch, loop side (Worker.process) (whole)", coroutine=True
    )
    _wrap(Worker, "handle", "process: one input (Worker.handle)")
    _wrap(worker, "from_element", "process: SED decode (from_element)")
    _wrap(Worker, "run", "process: desk (Worker.run)")
    import eessi.sed.codec as codec

    _wrap(codec, "_fast_decode", "process: SED decode, one-pass decoder (codec._fast_decode)")
    _wrap(codec, "_decode", "process: SED decode, general decoder (codec._decode)")
    if os.environ.get("EESSI_BENCH_PROBE_DECODE_TWICE"):
        _decode_twice(worker)
    _install_gc()
    _wrap(Worker, "finished", "process: events' JSON and outbox build (Worker.finished)")
    _wrap(worker, "case_state", "process: case state's JSON (case_state)")
    _wrap(ObservedJournal, "_outcome", "ops: outcome counters and line (ObservedJournal._outcome)")
    _wrap(sqlite_journal, "_run_group", "thread: journal writer, one group commit (_run_group)")
    import eessi.journal.sql_journal as sql_journal

    tx = sql_journal.SqlTransaction
    for name in (
        "append_event",
        "append_events",
        "save_case",
        "enqueue_outbound",
        "mark_processed",
    ):
        _wrap(tx, name, f"commit: tx.{name}", coroutine=True)
    _wrap(sql_journal, "encode_json", "commit: JSON of an event or a case state (encode_json)")
    _wrap(sqlite_journal._LastSeqs, "get", "commit: a case's last event number (_LastSeqs.get)")
    _wrap(
        ObservedJournal,
        "_status",
        "ops: status of a settled message (ObservedJournal._status)",
        coroutine=True,
    )
    _wrap(
        sqlite_journal.SqliteJournal,
        "_flush",
        "journal: group commit task, loop side (_flush) (whole)",
        coroutine=True,
    )
    import eessi.transport.endpoint as endpoint

    _wrap(
        endpoint.BaseEndpoint,
        "handle",
        "inbound: the POST's handler, loop side (whole)",
        coroutine=True,
    )
    _wrap(endpoint, "read_body", "inbound: body read (read_body)", coroutine=True)
    _wrap(Inbox, "on_message", "inbound: Inbox.on_message", coroutine=True)
    try:
        from eessi.as4.transport import As4Endpoint
    except ImportError:
        return
    _wrap(As4Endpoint, "_receive", "inbound: AS4 receive (As4Endpoint._receive)")
    _wrap(As4Endpoint, "_receipt", "inbound: AS4 receipt (As4Endpoint._receipt)")


def _decode_twice(worker: Any) -> None:
    """``EESSI_BENCH_PROBE_DECODE_TWICE=1`` (D400): the worker decodes each SED twice, the
    second time from the same tree right after the first, and the probe times both: what the
    decode costs where the node runs it against what it costs with its code and data in the
    CPU's caches (the fund's own work per SED doubles here: compare steps, not totals)."""
    inner = worker.from_element

    def twice(root: Any) -> Any:
        start = time.thread_time()
        inner(root)
        _add("decode twice: first (as the node runs it)", time.thread_time() - start)
        start = time.thread_time()
        try:
            return inner(root)
        finally:
            _add("decode twice: second, same tree at once", time.thread_time() - start)

    worker.from_element = twice


def _install_gc() -> None:
    """The cyclic collector's own CPU on the loop thread (``gc.callbacks``): its collections
    run inside whatever step allocated last, so the steps' figures include them."""
    import gc

    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            started[:] = [time.thread_time()]
        elif started:
            _add(f"gc: generation {info['generation']} collection", time.thread_time() - started[0])

    gc.callbacks.append(on_gc)


def _threads_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads (by name and id), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        try:
            name = names.get(int(tid), "other")
            with open(f"/proc/self/task/{tid}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[f"{name} {tid}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _thread_totals(start: dict[str, float]) -> None:
    """Each thread's CPU since the probe started, per answer built: ``thread CPU: <name>``."""
    answers = _TOTALS.get("build: the answer's message and outbox row (whole)", [0.0, 0])[1]
    if not answers:
        return
    by_name: dict[str, float] = {}
    for key, seconds in _threads_cpu().items():
        name = key.rsplit(" ", 1)[0]
        if name.startswith("eessi-journal-"):
            name = "eessi-journal-" + name.removeprefix("eessi-journal-").split(" ", 1)[0]
        by_name[name] = by_name.get(name, 0.0) + seconds - start.get(key, 0.0)
    for name, seconds in by_name.items():
        _TOTALS[f"thread CPU: {name}"] = [seconds, answers]
    _TOTALS["thread CPU: all threads (whole)"] = [sum(by_name.values()), answers]


if _OUT and "serve" in sys.argv:
    threading.Thread(target=_install, name="bench-probe", daemon=True).start()

if os.environ.get("EESSI_BENCH_TIMELINE") and "serve" in sys.argv:  # D460: the bench's windows
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import timeline

    timeline.start(os.environ["EESSI_BENCH_TIMELINE"])
