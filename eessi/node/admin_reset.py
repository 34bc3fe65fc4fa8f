"""``POST /api/reset`` for a lone institution: one ``eessi serve`` process back to the start.

``eessi up`` resets its whole network (:meth:`eessi.node.network.Network.reset`); a tester who
runs the CNS (or a mock fund) as its own process, beside a system under test, needs the same for
that process, or the second run of a test meets the first run's open cases. :func:`lone_reset`
gives the reset of one node, attached with :func:`attach_lone_reset` before it starts (the
route finds it through :func:`eessi.node.clock_control.reset_of`):

1. wait (bounded) until nothing is in flight: else ``network.busy`` and nothing is reset;
2. the ``before`` hooks (a mock fund's rules back to its profile, its log emptied), so the
   fresh journal notes the profile's rules as the ones it starts with;
3. a virtual clock back to where it started (the fresh journal notes that time);
4. the journal file removed (with its ``-wal``/``-shm``) and created anew, and the node started
   again on it (:meth:`~eessi.node.institution.Institution.restart_empty`: desk rebuilt from
   the households, every seeded generator rewound), still serving on its port.

A PostgreSQL journal is not emptied (its database may be shared by several processes, or hold
what an operator wants kept): the reset is refused there with ``reset.not-supported``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from eessi.errors import ConfigError
from eessi.journal import open_journal
from eessi.journal.sqlite import Synchronous
from eessi.node.clock_control import Reset, attach_reset, control_of, reset_busy
from eessi.node.institution import Institution

__all__ = ["LONE_DRAIN_WITHIN", "attach_lone_reset", "lone_reset"]

#: How long (real seconds) a reset waits for what is in flight to finish.
LONE_DRAIN_WITHIN = 10.0


def lone_reset(
    inst: Institution,
    db: str | Path,
    *,
    synchronous: Synchronous = "FULL",
    before: Iterable[Callable[[], None]] = (),
    drain_within: float = LONE_DRAIN_WITHIN,
) -> Reset:
    """The reset of ``inst`` alone, whose journal is the SQLite file ``db`` (a PostgreSQL URL:
    a reset that refuses). Make it before the node starts: a virtual clock's start is taken
    now."""
    hooks = list(before)
    control = control_of(inst)  # None on the wall clock; else where the clock starts
    lock = asyncio.Lock()

    async def reset() -> dict[str, object]:
        if not isinstance(db, Path):
            raise ConfigError(
                f"{inst.id} keeps its journal in PostgreSQL, which a reset does not empty",
                where="POST /api/reset",
                hint="stop the process, drop and create its database, start it again (or run"
                " it on a SQLite --db, which POST /api/reset empties)",
                code="reset.not-supported",
            )
        async with lock:
            try:
                async with asyncio.timeout(drain_within):
                    while True:
                        await inst.idle()
                        if inst.busy == 0:
                            break
            except TimeoutError:
                raise reset_busy(
                    f"{inst.id} is busy (in flight: {inst.busy}) and", drain_within
                ) from None
            for hook in hooks:
                hook()
            at = control.rewind() if control is not None else None
            await inst.journal.close()
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                path.unlink(missing_ok=True)
            await inst.restart_empty(await open_journal(db, synchronous=synchronous))
            return {"reset": [inst.id], "clock": at.isoformat() if at is not None else None}

    return reset


def attach_lone_reset(
    inst: Institution,
    db: str | Path,
    *,
    synchronous: Synchronous = "FULL",
    before: Iterable[Callable[[], None]] = (),
) -> None:
    """Serve ``POST /api/reset`` on ``inst`` with :func:`lone_reset` (``eessi serve``)."""
    attach_reset(inst, lone_reset(inst, db, synchronous=synchronous, before=before))
