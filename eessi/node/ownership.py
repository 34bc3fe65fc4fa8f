"""One institution, several processes: who owns the cases, and the hand-over when it dies.

Several ``eessi serve --shared`` processes of one institution share one PostgreSQL journal
(and, on one host, one port: ``SO_REUSEPORT``; on several, a load balancer or a DNS name with
several addresses). Design (docs/deployment.md, decision D117):

* **Any process accepts.** An inbound message is validated, journaled (``accept_inbound``) and
  receipted by whichever process the connection reached, as always: nothing acknowledged is
  ever only in a process's memory. Accepting also ``NOTIFY``s the owner.
* **One process owns the cases**, all of them: the one holding the institution's
  **session-level advisory lock** (``pg_try_advisory_lock`` on a connection of its own). Only it
  runs the desk: it queues every ``received`` message from the journal (whoever accepted it),
  processes them in batches, commits their effects (the transactional outbox) and sends the
  outbox. The others are **standbys**: they accept and wait for the lock.
* **Hand-over.** When the owner dies (``kill -9``, a crash, a lost host), PostgreSQL ends its
  session and releases the lock; a standby takes it (within :data:`POLL` seconds), claims a new
  **epoch** (``PostgresJournal.claim_ownership``), rebuilds the desk from the journal (the last
  checkpoint, then the input log after it), resumes the interrupted sends and queues every
  ``received`` message: exactly what a restart of a single process does, so the same
  guarantees hold (0 lost: accepted means committed; 0 done twice: an input is marked processed
  in the transaction of its effects; a resent SED is dropped by its receiver's MessageId).
* **Fencing.** Every transaction of the owner first checks the epoch under a share lock: a
  process that lost its lock without dying (its connection cut) can never commit after the next
  owner claimed; the first such transaction stops the process at once (as a ``kill -9`` would;
  restarted by its supervisor it becomes a standby). A process that sees its lock connection
  fail stops likewise.

Why all the cases and not partitions of them: the CNS's desk keeps state across cases (a
member's registrations, the documents asked per person, reminders by due date), so two
processes each holding part of the cases would decide on two different views of one person.
Partitions would have to follow people (households), not case IDs; see D117.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import asyncpg

from eessi.errors import ConfigError
from eessi.journal.postgres import INBOUND_CHANNEL, PostgresJournal
from eessi.node.steps import Item

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["POLL", "Ownership", "lock_key"]

log = logging.getLogger("eessi.node")

#: Seconds between a standby's attempts at the lock, and between the owner's checks of its
#: lock connection and of the journal for inbound messages it was not told of.
POLL: Final = 0.25


def lock_key(institution: str) -> int:
    """The advisory lock key of ``institution``'s ownership (a signed 64-bit integer)."""
    return (0x6565_7373 << 32 | zlib.crc32(institution.encode())) - (1 << 63)


def _die() -> None:
    """Stop this process at once, as a ``kill -9`` would: it lost ownership, and anything it
    did next could only be refused (the journal keeps all that matters)."""
    log.critical("this process lost ownership of its institution: stopping at once")
    os._exit(70)


class Ownership:
    """Runs ``node`` as one of several processes of its institution (module docstring).

    ``await start(host=..., port=...)`` serves as a standby and begins competing for the lock;
    :attr:`owner` says whether this process owns the cases now; ``await stop()`` stops the node
    and gives the lock up.
    """

    def __init__(
        self,
        node: Institution,
        *,
        poll: float = POLL,
        on_lost: Callable[[], None] = _die,
    ) -> None:
        journal = node.journal
        inner = getattr(journal, "inner", journal)  # an observed journal (eessi.ops) wraps it
        if not isinstance(inner, PostgresJournal):
            raise ConfigError(
                f"{node.id}: several processes of one institution need a PostgreSQL journal",
                code="node.shared-needs-postgresql",
                hint="give --journal postgresql://... to every process of the institution",
            )
        self.node = node
        self.journal: PostgresJournal = inner
        self.poll = poll
        self.on_lost = on_lost
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.owner = False
        self.epoch: int | None = None
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: Inbound message IDs queued for the desk, with when (monotonic): see :meth:`_pickup`.
        self._queued: dict[str, float] = {}
        node.inbound_from_journal = True
        self.journal.notify_inbound = True

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        """Serve as a standby (accepting inbound messages), then compete for the cases."""
        self._conn = await asyncpg.connect(self.journal.url)
        await self.node.start(host=host, port=port, standby=True)
        self._task = asyncio.create_task(self._run(), name=f"{self.node.id} ownership")

    async def stop(self) -> None:
        """Stop the node, then give up the lock: a standby takes over only once this process
        commits nothing more (its last checkpoint written)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.node.stop()
        self.owner = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # the lock goes with the session
            self._conn = None

    async def _run(self) -> None:
        try:
            await self._own()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never a process that neither owns nor may take over
            log.critical("%s: ownership failed: %s", self.node.id, exc, exc_info=exc)
            self.on_lost()

    async def _own(self) -> None:
        key = lock_key(self.node.id)
        while True:  # a standby: try the lock every poll (no wait queue in PostgreSQL's)
            if await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                break
            await asyncio.sleep(self.poll)
        self.epoch = await self.journal.claim_ownership(
            self.node.id, self.holder, on_fenced=self.on_lost
        )
        log.warning(
            "%s: this process (%s) owns the cases now (epoch %d)",
            self.node.id,
            self.holder,
            self.epoch,
        )
        await self._conn.add_listener(INBOUND_CHANNEL, self._notified)
        await self.node.activate()
        self.owner = True
        while True:
            await self._pickup()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._conn.fetchval("SELECT 1")
            except Exception as exc:  # the session holding the lock is gone: so is the lock
                log.critical("%s: the ownership connection failed: %s", self.node.id, exc)
                self.on_lost()
                return

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.node.id:
            self._wake.set()

    async def _pickup(self) -> None:
        """Queue for the desk every ``received`` inbound message not queued yet, whichever
        process accepted it. A message stays in :attr:`_queued` until a read that began after
        it was queued no longer finds it ``received`` (processed, rejected, expired or failed):
        so a message parked by the desk, or queued but not yet committed, is never queued
        twice."""
        began = time.monotonic()
        waiting = set(await self.journal.received_inbound_ids())
        for mid, at in list(self._queued.items()):
            if at < began and mid not in waiting:
                del self._queued[mid]
        fresh = [mid for mid in waiting if mid not in self._queued]
        if not fresh:
            return
        node = self.node
        roots = node.accepted_roots
        for record in await self.journal.inbound_records(fresh):
            if record.message_id in self._queued:
                continue
            self._queued[record.message_id] = time.monotonic()
            node.add_busy(1)
            # parsed and validated when this process accepted it; else read again by the worker
            root = roots.pop(record.message_id, None)
            node.worker.queue.put_nowait(Item("inbound", record, root))
