"""The series a message or a commit moves are counted in plain numbers and written when scraped
(D361): a scrape shows exactly what ``prometheus_client``'s own counter and histograms would
show for the same observations (names, types, help, labels, bucket bounds, counts, sums)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from eessi.ops.metrics import NodeMetrics

INST = "FR:CPAM5701"
MESSAGES = [
    ("S072", "in", "processed"),
    ("S072", "in", "processed"),
    ("S073", "out", "acknowledged"),
    ("S072", "in", "duplicate"),
    ("X001", "out", "failed"),
]
#: Below, on and between the bounds, past the last one (+Inf), and zero.
DURATIONS = [("in", 0.0), ("in", 0.005), ("in", 0.0051), ("out", 0.3), ("out", 300.0), ("out", 301)]
COMMITS = [0.0004, 0.0005, 0.002, 0.002, 2.5, 9.0]


def reference(*, observed: bool = True) -> bytes:
    """The same observations (or none) through ``prometheus_client``'s own series."""
    registry = CollectorRegistry()
    messages = Counter(
        "eessi_messages",
        "Messages by outcome: inbound processed/rejected/refused/expired/duplicate/"
        "processing_failed, outbound acknowledged/failed (one count per message and outcome)",
        ("institution", "sed", "direction", "status"),
        registry=registry,
    )
    commits = Histogram(
        "eessi_journal_commit_seconds",
        "Time of one journal transaction (a batch of inputs and their effects), begin to commit",
        ("institution",),
        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        registry=registry,
    )
    durations = Histogram(
        "eessi_message_duration_seconds",
        "Time from journaling a message to its outcome (inbound: processed or rejected;"
        " outbound: acknowledged or failed)",
        ("institution", "direction"),
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        registry=registry,
    )
    if not observed:
        return generate_latest(registry)
    for sed, direction, status in MESSAGES:
        messages.labels(INST, sed, direction, status).inc()
    for direction, seconds in DURATIONS:
        durations.labels(INST, direction).observe(seconds)
    for seconds in COMMITS:
        commits.labels(INST).observe(seconds)
    return generate_latest(registry)


def families(
    text: bytes, names: set[str]
) -> dict[str, tuple[str, str, list[tuple[str, dict[str, str], float]]]]:
    """Each named family's type, help and samples (a ``_created`` sample's time left out: it is
    when the series was made)."""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        if family.name not in names:
            continue
        samples = sorted(
            (
                (s.name, s.labels, -1.0 if s.name.endswith("_created") else s.value)
                for s in family.samples
            ),
            key=repr,
        )
        out[family.name] = (family.type, family.documentation, samples)
    return out


def test_a_scrape_shows_what_prometheus_clients_series_would_show() -> None:
    metrics = NodeMetrics(INST)
    for sed, direction, status in MESSAGES:
        metrics.count(sed, direction, status)
    for direction, seconds in DURATIONS:
        metrics.timed(direction, seconds)
    for seconds in COMMITS:
        metrics.observe_commit(seconds)
    names = {"eessi_messages", "eessi_journal_commit_seconds", "eessi_message_duration_seconds"}
    ours = families(metrics.exposition(), names)
    theirs = families(reference(), names)
    assert ours.keys() == names
    assert ours == theirs
    # e.g. the two processed S072s, and a commit of exactly 0.5 ms in the 0.0005 bucket
    assert (
        "eessi_messages_total",
        {"institution": INST, "sed": "S072", "direction": "in", "status": "processed"},
        2.0,
    ) in ours["eessi_messages"][2]
    assert ("eessi_journal_commit_seconds_bucket", {"institution": INST, "le": "0.0005"}, 2.0) in (
        ours["eessi_journal_commit_seconds"][2]
    )


def test_nothing_counted_yet_shows_the_families_as_prometheus_client_does() -> None:
    names = {"eessi_messages", "eessi_journal_commit_seconds", "eessi_message_duration_seconds"}
    ours = families(NodeMetrics(INST).exposition(), names)
    assert ours == families(reference(observed=False), names)
    assert ours.keys() == names
    assert all(not samples for _type, _help, samples in ours.values())
