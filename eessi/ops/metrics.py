"""The Prometheus metrics of one node (``prometheus-client``), served at ``GET /metrics``.

One :class:`~prometheus_client.CollectorRegistry` **per node**, every series labelled with the
node's ``institution``: ``eessi up`` runs several nodes in one process, each on its own port,
and each port's ``/metrics`` shows that node only, so scraping every port counts each message
once (docs/decisions.md D76). Labels are bounded: institution, SED type, direction, status,
error code, BUC, case state; never a case or message ID.

Counters are incremented by :mod:`eessi.ops.observe` where the node journals the event; the
gauges (outbox depth, parked messages, open cases by BUC and state) are read from the node when
scraped (:class:`_NodeCollector`), so they cost nothing between scrapes.

A process of a shared institution (``eessi serve --shared``) counts what it does itself (its
accepts, and what the desks of the partitions it owns process and send: sum the processes), and
its gauges are the **institution's** (every partition's desk asked, the outbox depth from the
journal: any process answers the same; :mod:`eessi.node.shared_views`, D195), plus
``eessi_partitions_owned``, this process's share.

``/metrics`` follows the admin API's one auth rule (:mod:`eessi.node.http_api`): open on
loopback, ``Authorization: Bearer <EESSI_ADMIN_TOKEN>`` when the node is bound elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from eessi.errors import EessiError
from eessi.node.http_api import admin_auth, error_response, status_of

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram
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
    messages: Counter
    validation_failures: Counter
    retries: Counter
    commit_seconds: Histogram
    message_seconds: Histogram

    def __init__(self, institution: str) -> None:
        self.institution = institution
        #: The node watched (:meth:`watch`).
        self.node: Institution | None = None
        #: A shared institution's gauges, gathered before each scrape (:meth:`gather`).
        self.shared: DeskGauges | None = None
        #: Commit times observed before the registry was made (:meth:`observe_commit`).
        self._commits: list[float] = []
        #: The series of each label set, looked up once (:meth:`counted`, :meth:`timed`).
        self._series: dict[tuple[str, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        """The registry and its series, made (and ``prometheus_client`` imported) when first
        used: at the first message or scrape, not before the node answers (D210)."""
        if name not in _LAZY:
            raise AttributeError(name)
        self._build()
        return self.__dict__[name]

    def _build(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

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
        if self._watched is not None:
            r.register(_collector(self, *self._watched))
        commits, self._commits = self._commits, []
        for seconds in commits:
            self.commit_seconds.labels(self.institution).observe(seconds)

    def counted(self, sed: str, direction: str, status: str) -> Any:
        """The ``eessi_messages`` series of these labels. Each label set is looked up once and
        kept (``labels()`` costs about 10 µs a call, a few per message; the label values are
        bounded, see the module docstring)."""
        key = (sed, direction, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self.messages.labels(
                self.institution, sed, direction, status
            )
        return series

    def timed(self, direction: str) -> Any:
        """The ``eessi_message_duration_seconds`` series of ``direction`` (kept, as
        :meth:`counted`)."""
        key = ("~duration", direction)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self.message_seconds.labels(self.institution, direction)
        return series

    def observe_commit(self, seconds: float) -> None:
        """One journal transaction's time. Before the registry is made (the start's own
        commits), kept aside (at most :data:`_COMMITS_KEPT`, then the registry is made) and
        observed when it is."""
        if "registry" in self.__dict__:
            series = self._series.get(("~commit",))
            if series is None:
                series = self._series[("~commit",)] = self.commit_seconds.labels(self.institution)
            series.observe(seconds)
            return
        self._commits.append(seconds)
        if len(self._commits) >= _COMMITS_KEPT:
            self._build()

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


#: Commit times kept before the registry is made (:meth:`NodeMetrics.observe_commit`).
_COMMITS_KEPT: Final = 256

_LAZY: Final = frozenset(
    ("registry", "messages", "validation_failures", "retries", "commit_seconds", "message_seconds")
)


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
