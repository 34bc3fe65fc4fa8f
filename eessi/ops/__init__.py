"""Operations: structured logs, Prometheus metrics and health of a running node.

* :mod:`eessi.ops.logs`: ``--log-format text|json`` and ``--log-level`` (the standard
  :mod:`logging` module with a small JSON formatter: one object per line).
* :mod:`eessi.ops.observe`: one log line per message in and out and per decision, and the
  metrics, taken from what the node journals (a thin proxy in front of its journal).
* :mod:`eessi.ops.metrics`: the Prometheus metrics of one node and its ``/metrics`` route.

``docs/operations.md`` is the guide.
"""

from __future__ import annotations

__all__: list[str] = []
