"""The cyclic garbage collector's setting in a serving node (``eessi serve``, ``eessi up``).

A node builds a big long-lived heap at start-up (modules, the directory, the registry, the
households index, the desk, the journal's restored state) and then, per message, allocates many
short-lived objects that reference counting frees. Python's defaults (a young collection every
700 net allocations, a full one walking the whole heap every hundred young ones) spent 2-4 % of a
serving node's CPU collecting, most of it re-walking that start-up heap (docs/performance.md,
2026-12-06 "the garbage collector", D290). So once a node has started:

* ``gc.collect()`` then ``gc.freeze()``: what start-up built leaves the collector's sight (the
  garbage start-up made is collected first, never frozen);
* the young generation's threshold is raised (:data:`DEFAULT_THRESHOLD` net allocations; the
  older generations' multipliers stay Python's), so far fewer young collections run.

Garbage in cycles is still collected, only later: at most some thousands of objects more wait for
it (RSS measured unchanged). ``EESSI_GC=python`` keeps Python's own setting (to compare, or to
rule the setting out); ``EESSI_GC_THRESHOLD=N`` sets the young threshold. A bad value is an
error, not a silent fallback. The node prints what it applied (the ``gc`` line at start).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eessi.errors import ConfigError

__all__ = ["DEFAULT_THRESHOLD", "ENV", "THRESHOLD_ENV", "GcPlan", "GcSetting", "plan_from_env"]

#: ``tuned`` (the default: freeze after start-up, higher young threshold) or ``python``.
ENV = "EESSI_GC"
#: The young generation's threshold when tuned (net allocations between young collections).
THRESHOLD_ENV = "EESSI_GC_THRESHOLD"
#: Its default: about 30 times fewer young collections than Python's 700 (D290).
DEFAULT_THRESHOLD = 20_000


@dataclass(frozen=True, slots=True)
class GcSetting:
    """What the collector runs with after :meth:`GcPlan.apply`."""

    tuned: bool
    thresholds: tuple[int, int, int]
    frozen: int

    def describe(self) -> str:
        how = "start-up heap frozen" if self.tuned else "Python's own setting (EESSI_GC=python)"
        return f"gc: {how}; thresholds {self.thresholds}, {self.frozen} objects frozen"

    def event_fields(self) -> dict[str, Any]:
        """The JSON fields of the ``gc`` start-up event (``eessi serve`` and ``eessi up``)."""
        return {"tuned": self.tuned, "thresholds": list(self.thresholds), "frozen": self.frozen}


@dataclass(frozen=True, slots=True)
class GcPlan:
    """The setting a node will apply once started (read and checked before anything opens)."""

    tuned: bool
    threshold: int

    def apply(self) -> GcSetting:
        """Call once start-up is done: collect, freeze and raise the young threshold (tuned),
        or leave the collector alone (``EESSI_GC=python``)."""
        if self.tuned:
            gc.collect()
            gc.freeze()
            _, older, oldest = gc.get_threshold()
            gc.set_threshold(self.threshold, older, oldest)
        first, second, third = gc.get_threshold()
        return GcSetting(self.tuned, (first, second, third), gc.get_freeze_count())


def plan_from_env(environ: Mapping[str, str] | None = None) -> GcPlan:
    """The plan ``EESSI_GC`` and ``EESSI_GC_THRESHOLD`` ask for; a bad value is a
    :class:`~eessi.errors.ConfigError`."""
    env = os.environ if environ is None else environ
    mode = env.get(ENV, "").strip().lower() or "tuned"
    if mode not in ("tuned", "python"):
        raise ConfigError(
            f"{ENV}={mode!r} names no garbage-collector setting",
            code="config.gc",
            where=ENV,
            hint="use tuned (the default) or python (Python's own thresholds, nothing frozen)",
        )
    raw = env.get(THRESHOLD_ENV, "").strip()
    if not raw:
        return GcPlan(mode == "tuned", DEFAULT_THRESHOLD)
    try:
        threshold = int(raw)
    except ValueError:
        threshold = 0
    if threshold < 1:
        raise ConfigError(
            f"{THRESHOLD_ENV}={raw!r} is not a positive number of allocations",
            code="config.gc",
            where=THRESHOLD_ENV,
            hint=f"give a whole number such as {DEFAULT_THRESHOLD}, or unset it",
        )
    return GcPlan(mode == "tuned", threshold)
