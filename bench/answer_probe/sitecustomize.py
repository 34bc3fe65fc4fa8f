"""``bench/inbound.py --profile answer``: the thread CPU time of the answer path, per call.

Put on the mock fund's ``PYTHONPATH`` by the bench (never by ``eessi serve`` itself) with
``EESSI_BENCH_PROBE=<file>``: once the node's modules are imported, the functions below are
wrapped to add up the CPU time of their own thread (``time.thread_time``) per call; for a
coroutine, the CPU of its steps (what it runs until each ``await`` gives the loop back, its
awaited callees included; the loop's I/O callbacks are not). The totals are written to the
file as JSON every quarter of a second: ``{label: [seconds, calls]}``.
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
    assert _OUT is not None
    while True:
        time.sleep(0.25)
        tmp = _OUT + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(_TOTALS, fh)
        os.replace(tmp, _OUT)


if _OUT and "serve" in sys.argv:
    threading.Thread(target=_install, name="bench-probe", daemon=True).start()
