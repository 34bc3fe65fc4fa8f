"""The Prometheus metrics of one node (``prometheus-client``), served at ``GET /metrics``.

One :class:`~prometheus_client.CollectorRegistry` **per node**, every series labelled with the
node's ``institution``: ``eessi up`` runs several nodes in one process, each on its own port,
and each port's ``/metrics`` shows that node only, so scraping every port counts each message
once (docs/decisions.md D76). Labels are bounded: institution, SED type, direction, status,
error code, BUC, case state; never a case or message ID.

Counters are incremented by :mod:`eessi.ops.observe` where the node journals the event; the
gauges (outbox depth, parked messages, open cases by BUC and state) are read from the node when
scraped (:class:`_NodeCollector`), so they cost nothing between scrapes.

``/metrics`` follows the admin API's one auth rule (:mod:`eessi.node.http_api`): open on
loopback, ``Authorization: Bearer <EESSI_ADMIN_TOKEN>`` when the node is bound elsewhere.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from eessi.core.desk import Deferred, PersistentMap
from eessi.errors import EessiError
from eessi.node.http_api import admin_auth, error_response, status_of

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["METRICS_PATH", "NodeMetrics", "add_metrics_route"]

#: Where a node serves its metrics (beside ``/api/``, not under it: the usual scrape path).
METRICS_PATH: Final = "/metrics"

#: Commit latencies are milliseconds on a quiet disk, up to seconds on a loaded one.
_COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
#: Message durations: from journaled to settled (processed, acknowledged...).
_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class NodeMetrics:
    """The metrics of one node, in their own registry (see the module docstring)."""

    def __init__(self, institution: str) -> None:
        self.institution = institution
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "eessi_messages",
            "Messages by outcome: inbound processed/rejected/refused/expired/duplicate/"
            "processing_failed, outbound acknowledged/failed (one count per message and outcome)",
            ("institution", "sed", "direction", "status"),
            registry=r,
        )
        self.validation_failures = Counter(
            "eessi_validation_failures",
            "Inbound messages refused at the door, by error code (sed.* or EBMS:*)",
            ("institution", "code"),
            registry=r,
        )
        self.retries = Counter(
            "eessi_retries",
            "Outbound attempts that failed and were scheduled again",
            ("institution", "sed"),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "eessi_journal_commit_seconds",
            "Time of one journal transaction (a batch of inputs and their effects), begin to"
            " commit",
            ("institution",),
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.message_seconds = Histogram(
            "eessi_message_duration_seconds",
            "Time from journaling a message to its outcome (inbound: processed or rejected;"
            " outbound: acknowledged or failed)",
            ("institution", "direction"),
            buckets=_DURATION_BUCKETS,
            registry=r,
        )

    def watch(self, node: Institution, outbox_depth: Callable[[], int]) -> None:
        """Export ``node``'s gauges (read at each scrape)."""
        self.registry.register(_NodeCollector(self.institution, node, outbox_depth))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


class _NodeCollector(Collector):
    """Gauges read from the node when scraped."""

    def __init__(self, institution: str, node: Institution, outbox: Callable[[], int]) -> None:
        self._inst = institution
        self._node = node
        self._outbox = outbox

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        labels = [self._inst]
        outbox = GaugeMetricFamily(
            "eessi_outbox_depth",
            "Outbound messages journaled and not yet acknowledged or failed",
            labels=["institution"],
        )
        outbox.add_metric(labels, self._outbox())
        yield outbox
        parked = GaugeMetricFamily(
            "eessi_parked_messages",
            "Inbound documents kept until their case (or the document they answer) is known",
            labels=["institution"],
        )
        parked.add_metric(labels, len(self._node.parked))
        yield parked
        expired = self._node.stats.get("expired")
        if expired is not None:
            fam = CounterMetricFamily(
                "eessi_expired_messages",
                "Parked documents given up after their time limit",
                labels=["institution"],
            )
            fam.add_metric(labels, expired)
            yield fam
        cases = GaugeMetricFamily(
            "eessi_open_cases",
            "Cases not closed, by BUC and state",
            labels=["institution", "buc", "state"],
        )
        for (buc, state), n in sorted(_open_cases(self._node).items()):
            cases.add_metric([self._inst, buc, state], n)
        yield cases


def _open_cases(node: Any) -> Tally[tuple[str, str]]:
    """Cases by BUC and state, read without decoding the cases a restart left encoded
    (their :class:`~eessi.core.desk.Deferred` summary, D152)."""
    tally: Tally[tuple[str, str]] = Tally()
    cases = node.desk.snapshot().cases
    items = cases.raw_items() if isinstance(cases, PersistentMap) else cases.items()
    for _case_id, item in items:
        if type(item) is Deferred:
            if not item.loaded and item.summary is not None:
                buc, state = item.summary
                if state != "closed":
                    tally[(buc, state)] += 1
                continue
            item = item.value()
        cf: Any = item
        state = cf.snapshot.state.value
        if state != "closed":
            tally[(cf.snapshot.buc, state)] += 1
    return tally


def add_metrics_route(app: web.Application, metrics: NodeMetrics) -> None:
    """Serve ``metrics`` at ``GET /metrics`` of ``app`` under the admin API's auth rule (mount
    the admin API first: its rule is the one installed on ``app``)."""
    auth = admin_auth(app, host=None, token=None)

    async def handler(request: web.Request) -> web.Response:
        try:
            auth.check(request)
        except EessiError as exc:
            return error_response(exc, status_of(exc))
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_get(METRICS_PATH, handler)
