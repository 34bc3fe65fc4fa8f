"""Graceful shutdown: on SIGTERM, drain what is in flight within a bound, then stop.

``eessi serve`` and ``eessi up`` call :func:`drain` when SIGTERM (or Ctrl-C) comes, before
stopping their institutions. Draining means: readiness goes false at once (``GET
/api/health/ready`` answers 503, so a load balancer stops sending), then the processes wait
until every input is handled and every outbound message is acknowledged or failed (the node's
``idle()``), for at most ``--drain-timeout`` seconds. What is still in flight at the bound stays
in the journal (``received`` inbound, ``queued``/``sending``/``retrying`` outbound) and is
resumed at the next start, like after a crash: a drain only shortens what the next start has to
do, it never decides whether something is lost (nothing is; docs/operations.md, D115).

Messages keep arriving while the node drains (peers do not read readiness); each is journaled
before its receipt, so accepting it is safe, and the bound caps the wait however busy the peers
are. Retries waiting for their back-off count as in flight: a peer that is down makes the drain
last the whole bound and leaves the messages ``retrying`` for the next start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "Drained", "drain"]

#: Default bound of a drain, in seconds: below the 10 s a container runtime waits between
#: SIGTERM and SIGKILL (Docker's default ``stop_grace_period``), with room for the stop itself.
DEFAULT_DRAIN_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True)
class Drained:
    """How a drain ended."""

    #: True if everything in flight reached its outcome before the bound.
    complete: bool
    #: Seconds the drain took.
    seconds: float
    #: What each institution still had in flight at the end (inputs and outbound messages),
    #: only those with some; left in the journal for the next start.
    left: dict[str, int]

    @property
    def in_flight(self) -> int:
        """Inputs and outbound messages still in flight, summed over the institutions."""
        return sum(self.left.values())


async def drain(nodes: Sequence[Institution], within: float) -> Drained:
    """Mark ``nodes`` not ready, then wait up to ``within`` seconds until all of them are idle
    at once (a flow between two of them in one process finishes too). ``within`` <= 0 only
    marks them not ready."""
    start = time.monotonic()
    for node in nodes:
        node.ready = False
    if within > 0:
        try:
            async with asyncio.timeout(within):
                while not all(node.busy == 0 for node in nodes):
                    for node in nodes:
                        await node.idle()
        except TimeoutError:
            pass  # what is left stays in the journal for the next start
    left: dict[str, int] = {}
    for node in nodes:  # the partitions of a shared institution are nodes of one institution
        if node.busy:
            left[node.id] = left.get(node.id, 0) + node.busy
    return Drained(complete=not left, seconds=time.monotonic() - start, left=left)
