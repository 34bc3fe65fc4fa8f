"""The Prometheus metrics of one node (``prometheus-client``), served at ``GET /metrics``.

One :class:`~prometheus_client.CollectorRegistry` **per node**, every series labelled with the
node's ``institution``: ``eessi up`` runs several nodes in one process, each on its own port,
and each port's ``/metrics`` shows that node only, so scraping every port counts each message
once (docs/decisions.md D76). Labels are bounded: institution, SED type, direction, status,
error code, BUC, case state; never a case or message ID.

Counters are incremented by :mod:`eessi.ops.observe` where the node journals the event; the
gauges (outbox depth, parked messages, open cases by BUC and state) are read from the node when
scraped (:class:`_NodeCollector`), so they cost nothing between scrapes. The three series a
message or a commit moves (``eessi_messages``, ``eessi_message_duration_seconds``,
``eessi_journal_commit_seconds``) are counted in plain numbers on the event loop and written
as the same counter and histograms when scraped (:class:`_Tally`, D361): a ``prometheus_client``
series takes a lock per increment and a Python call per bucket.

A process of a shared institution (``eessi serve --shared``) counts what it does itself (its
accepts, and what the desks of the partitions it owns process and send: sum the processes), and
its gauges are the **institution's** (every partition's desk asked, the outbox depth from the
journal: any process answers the same; :mod:`eessi.node.shared_views`, D195), plus
``eessi_partitions_owned``, this process's share.

``/metrics`` follows the admin API's one auth rule (:mod:`eessi.node.http_api`): open on
loopback, ``Authorization: Bearer <EESSI_ADMIN_TOKEN>`` when the node is bound elsewhere.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, cast

from aiohttp import web

from eessi.errors import EessiError
from eessi.node.http_api import admin_auth, error_response, status_of

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.core import Metric

    from eessi.node.institution import Institution
    from eessi.node.shared_views import DeskGauges

__all__ = ["METRICS_PATH", "NodeMetrics", "add_metrics_route"]

#: Where a node serves its metrics (beside ``/api/``, not under it: the usual scrape path).
METRICS_PATH: Final = "/metrics"

#: Commit latencies are milliseconds on a quiet disk, up to seconds on a loaded one.
_COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
#: Message durations: from journaled to settled (processed, acknowledged...).
_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class NodeMetrics:
    """The metrics of one node, in their own registry (see the module docstring)."""

    registry: CollectorRegistry
    validation_failures: Counter
    retries: Counter

    def __init__(self, institution: str) -> None:
        self.institution = institution
        #: The node watched (:meth:`watch`).
        self.node: Institution | None = None
        #: A shared institution's gauges, gathered before each scrape (:meth:`gather`).
        self.shared: DeskGauges | None = None
        #: ``eessi_messages``: [count, created] by (sed, direction, status) (:meth:`count`).
        self._counts: dict[tuple[str, str, str], list[float]] = {}
        #: ``eessi_message_duration_seconds`` by direction (:meth:`timed`).
        self._durations: dict[str, _Tally] = {}
        #: ``eessi_journal_commit_seconds`` (:meth:`observe_commit`).
        self._commit_tally: _Tally | None = None

    def __getattr__(self, name: str) -> Any:
        """The registry and its series, made (and ``prometheus_client`` imported) when first
        used: at the first message or scrape, not before the node answers (D210)."""
        if name not in _LAZY:
            raise AttributeError(name)
        self._build()
        return self.__dict__[name]

    def _build(self) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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
        r.register(_tally_collector(self))
        if self._watched is not None:
            r.register(_collector(self, *self._watched))

    def count(self, sed: str, direction: str, status: str) -> None:
        """One more ``eessi_messages`` of these labels (bounded values, see the module
        docstring)."""
        row = self._counts.get((sed, direction, status))
        if row is None:
            self._counts[(sed, direction, status)] = [1.0, time.time()]
        else:
            row[0] += 1.0

    def timed(self, direction: str, seconds: float) -> None:
        """One message's time from journaled to settled, in
        ``eessi_message_duration_seconds``."""
        tally = self._durations.get(direction)
        if tally is None:
            tally = self._durations[direction] = _Tally(_DURATION_BUCKETS)
        tally.observe(seconds)

    def observe_commit(self, seconds: float) -> None:
        """One journal transaction's time, in ``eessi_journal_commit_seconds``."""
        tally = self._commit_tally
        if tally is None:
            tally = self._commit_tally = _Tally(_COMMIT_BUCKETS)
        tally.observe(seconds)

    #: What :meth:`watch` was given, registered when the registry is made.
    _watched: tuple[Institution, Callable[[], int]] | None = None

    def watch(self, node: Institution, outbox_depth: Callable[[], int]) -> None:
        """Export ``node``'s gauges (read at each scrape)."""
        self.node = node
        self._watched = (node, outbox_depth)
        if "registry" in self.__dict__:
            self.registry.register(_collector(self, node, outbox_depth))

    async def gather(self) -> None:
        """Before a scrape: a process of a shared institution asks every partition's desk
        for the institution's gauges (an owner that does not answer: an error, no partial
        figures)."""
        from eessi.node.shared_views import views_of

        views = views_of(self.node) if self.node is not None else None
        if views is not None:
            self.shared = await views.gauges()

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        from prometheus_client.exposition import generate_latest

        return generate_latest(self.registry)


_LAZY: Final = frozenset(("registry", "validation_failures", "retries"))


class _Tally:
    """One histogram's buckets (not cumulative; the last one is ``+Inf``), sum and creation
    time, counted as ``prometheus_client``'s ``Histogram.observe`` does: a value goes into the
    first bucket whose bound is at least the value."""

    __slots__ = ("bounds", "counts", "created", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value


def _tally_collector(metrics: NodeMetrics) -> Any:
    """The collector of the tallied series (:class:`_Tally`): the same families, names,
    samples and help as a ``prometheus_client`` counter and histograms would write."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector
    from prometheus_client.samples import Sample
    from prometheus_client.utils import floatToGoString

    go_text = cast(Callable[[float], str], floatToGoString)  # the `le` texts it writes

    def histogram(
        name: str, help_text: str, labelnames: list[str], rows: list[tuple[list[str], _Tally]]
    ) -> Metric:
        family = HistogramMetricFamily(name, help_text, labels=labelnames)
        for values, tally in rows:
            cumulative, buckets = 0, []
            for bound, n in zip((*tally.bounds, float("inf")), tally.counts, strict=True):
                cumulative += n
                buckets.append((go_text(bound), float(cumulative)))
            family.add_metric(values, buckets, tally.total)
            labels = dict(zip(labelnames, values, strict=True))
            family.samples.append(Sample(f"{name}_created", labels, tally.created, None, None))
        return family

    class _TallyCollector(Collector):
        def describe(self) -> Iterator[Metric]:
            return iter(())

        def collect(self) -> Iterator[Metric]:
            inst = metrics.institution
            messages = CounterMetricFamily(
                "eessi_messages",
                "Messages by outcome: inbound processed/rejected/refused/expired/duplicate/"
                "processing_failed, outbound acknowledged/failed (one count per message and"
                " outcome)",
                labels=["institution", "sed", "direction", "status"],
            )
            for (sed, direction, status), (n, created) in metrics._counts.items():
                messages.add_metric([inst, sed, direction, status], n, created=created)
            yield messages
            commits = metrics._commit_tally
            yield histogram(
                "eessi_journal_commit_seconds",
                "Time of one journal transaction (a batch of inputs and their effects), begin to"
                " commit",
                ["institution"],
                [] if commits is None else [([inst], commits)],
            )
            yield histogram(
                "eessi_message_duration_seconds",
                "Time from journaling a message to its outcome (inbound: processed or rejected;"
                " outbound: acknowledged or failed)",
                ["institution", "direction"],
                [([inst, d], tally) for d, tally in metrics._durations.items()],
            )

    return _TallyCollector()


def _collector(metrics: NodeMetrics, node: Institution, outbox: Callable[[], int]) -> Any:
    """The collector of ``node``'s gauges (its class made with ``prometheus_client``)."""
    from prometheus_client.registry import Collector

    class _NodeCollector(Collector):
        """Gauges read from the node when scraped."""

        def __init__(
            self, metrics: NodeMetrics, node: Institution, outbox: Callable[[], int]
        ) -> None:
            self._metrics = metrics
            self._inst = metrics.institution
            self._node = node
            self._outbox = outbox

        def describe(self) -> Iterator[Metric]:
            return iter(())

        def collect(self) -> Iterator[Metric]:
            from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

            from eessi.node.shared_views import open_cases

            labels = [self._inst]
            shared = self._metrics.shared
            outbox = GaugeMetricFamily(
                "eessi_outbox_depth",
                "Outbound messages journaled and not yet acknowledged or failed",
                labels=["institution"],
            )
            outbox.add_metric(labels, self._outbox() if shared is None else shared.outbox)
            yield outbox
            parked = GaugeMetricFamily(
                "eessi_parked_messages",
                "Inbound documents kept until their case (or the document they answer) is known",
                labels=["institution"],
            )
            parked.add_metric(labels, len(self._node.parked) if shared is None else shared.parked)
            yield parked
            if shared is not None:
                owned = GaugeMetricFamily(
                    "eessi_partitions_owned",
                    "Partitions of the institution's cases this process owns"
                    " (eessi serve --shared)",
                    labels=["institution"],
                )
                owned.add_metric(labels, shared.owned)
                yield owned
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
            tally = open_cases(self._node.desk) if shared is None else shared.open_cases
            for (buc, state), n in sorted(tally.items()):
                cases.add_metric([self._inst, buc, state], n)
            yield cases

    return _NodeCollector(metrics, node, outbox)


def add_metrics_route(app: web.Application, metrics: NodeMetrics) -> None:
    """Serve ``metrics`` at ``GET /metrics`` of ``app`` under the admin API's auth rule (mount
    the admin API first: its rule is the one installed on ``app``)."""
    auth = admin_auth(app, host=None, token=None)

    async def handler(request: web.Request) -> web.Response:
        try:
            auth.check(request)
            await metrics.gather()
        except EessiError as exc:
            return error_response(exc, status_of(exc))
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_get(METRICS_PATH, handler)
