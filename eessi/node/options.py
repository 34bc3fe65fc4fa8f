"""How a node behaves besides its desk (:class:`NodeOptions`), and the crash points of the
kill -9 tests (:data:`CRASH_ENV`)."""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Any, Final

from eessi.errors import ConfigError
from eessi.sed.catalogue import SEDS
from eessi.transport.client import RetryPolicy
from eessi.transport.limits import InboundLimits
from eessi.transport.server import DEFAULT_MAX_BODY

__all__ = [
    "CRASH_ENV",
    "CRASH_POINTS",
    "DEFAULT_PARKED_EXPIRY",
    "NodeOptions",
    "crash_point",
]

log = logging.getLogger("eessi.node")

#: Environment variable naming a point where the process kills itself (tests of kill -9):
#: ``after-accept``, ``before-commit``, ``after-commit``, optionally ``:<SED type>``
#: (``after-commit:S071``); ``remote-input``: a shared institution's partition owner, after
#: running a request another process queued (its answer committed with its effect, D280);
#: ``remote-input-taken``: the same owner, the request taken, before its desk runs it.
CRASH_ENV: Final = "EESSI_CRASH_AT"
CRASH_POINTS: Final = (
    "after-accept",
    "before-commit",
    "after-commit",
    "remote-input-taken",
    "remote-input",
)

#: Default of :attr:`NodeOptions.parked_expiry`: one day. A document overtaken in transit by its
#: answer is retried by its sender's access point for hours at most.
DEFAULT_PARKED_EXPIRY: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """How a node behaves besides its desk (limits, retries, batching, timers)."""

    #: Largest HTTP body accepted (envelope + SED): larger answers 413.
    max_body: int = DEFAULT_MAX_BODY
    #: SED versions accepted (default: the directory entry's).
    accept_versions: tuple[str, ...] | None = None
    #: Retry budget and back-off of outbound messages (``max_attempts`` counts the first).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Concurrent send workers (one shared HTTP session).
    send_workers: int = 16
    #: Inputs handled (and committed) together at most.
    batch: int = 64
    #: Seconds between automatic ``tick()`` calls (reminders); ``None``: only when called.
    tick_interval: float | None = None
    #: Seconds without an answer after which a message is journaled waiting_for_receipt.
    waiting_after: float = 1.0
    #: Also serve on the directory's admin URL when it differs from the endpoint's.
    bind_admin: bool = True
    #: Debug: kill the process (SIGKILL) at this point (see :data:`CRASH_ENV`).
    crash_at: str | None = None
    #: Seconds a parked document (its case, or the document it answers, unknown) waits before
    #: it expires: journaled ``expired``, its sender answered with an X050 in the case
    #: (docs/node.md, "Parked documents"); ``None``: parked documents never expire.
    parked_expiry: float | None = DEFAULT_PARKED_EXPIRY
    #: What one peer address may cost the node's inbound endpoint (deadlines, connections,
    #: refusals, the Timestamp window): docs/node.md "Inbound limits"; D35-D39.
    inbound_limits: InboundLimits = field(default_factory=InboundLimits)
    #: Inputs between two checkpoints of the desk state (a restart replays only the inputs
    #: since the last one); one is also written at ``stop()``. ``None``: only at ``stop()``;
    #: ``0``: never (every restart replays the whole input log).
    checkpoint_every: int | None = 1000
    #: Listen with ``SO_REUSEPORT``, so that several processes of one institution share its
    #: port (the kernel spreads connections over them; :mod:`eessi.node.partitions`).
    reuse_port: bool = False

    @classmethod
    def from_env(cls, **kwargs: Any) -> NodeOptions:
        """Options with ``crash_at`` taken from :data:`CRASH_ENV` when set; a value that names
        no crash point raises :class:`ConfigError` (a typo would never crash)."""
        crash = os.environ.get(CRASH_ENV) or None
        if crash is not None:
            _check_crash_at(crash)
        return cls(crash_at=crash, **kwargs)


def _check_crash_at(spec: str) -> None:
    point, colon, sed = spec.partition(":")
    if point in CRASH_POINTS and (not colon or sed in SEDS):
        return
    raise ConfigError(
        f"{CRASH_ENV}={spec!r} names no crash point",
        code="config.crash-at",
        where=CRASH_ENV,
        hint=f"use one of {', '.join(CRASH_POINTS)}, optionally with a SED type"
        f" ({CRASH_POINTS[-1]}:S071), or unset {CRASH_ENV}",
        details={"value": spec, "allowed": list(CRASH_POINTS)},
    )


def crash_point(options: NodeOptions, point: str, sed_type: str | None, who: str) -> None:
    """Kill the process (SIGKILL) if ``options.crash_at`` names ``point`` (and ``sed_type``)."""
    spec = options.crash_at
    if not spec:
        return
    name, _, sed = spec.partition(":")
    if name == point and (not sed or sed == sed_type):
        log.warning("%s: %s=%s: killing the process", who, CRASH_ENV, spec)
        os.kill(os.getpid(), signal.SIGKILL)
