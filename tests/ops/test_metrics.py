"""``GET /metrics`` of a real ``eessi up`` process after an S071 -> S072 -> S073 flow: the
message counters by SED, direction and status equal what the journals hold (issue 15,
metrics)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from ops_support import CNS, PT, running, s071_flow
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow


async def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The samples of ``url``/metrics, by sample name."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


async def test_R17_flow_metrics_count_what_the_journals_hold(tmp_path: Path) -> None:
    async with running(tmp_path) as up:
        await s071_flow(up)
        scraped = {ir_id: await scrape(up.urls[ir_id]) for ir_id in (CNS, PT)}
    for ir_id, samples in scraped.items():
        counted = {
            (labels["sed"], labels["direction"], labels["status"]): value
            for labels, value in samples["eessi_messages_total"]
        }
        assert {labels["institution"] for labels, _ in samples["eessi_messages_total"]} == {ir_id}
        journal = Counter(
            (r.sed_type, r.direction.value, r.status.value) for r in await up.journal(ir_id)
        )
        assert counted == dict(journal.items())
        ((labels, commits),) = [
            (labels, value) for labels, value in samples["eessi_journal_commit_seconds_count"]
        ]
        assert labels == {"institution": ir_id}
        assert commits >= 2  # each inbound document's batch, at least
        assert samples["eessi_outbox_depth"] == [({"institution": ir_id}, 0.0)]
        assert samples["eessi_parked_messages"] == [({"institution": ir_id}, 0.0)]
    # the flow's one case, open on both sides (the BUC has ended, the case is not closed)
    cases = scraped[CNS]["eessi_open_cases"]
    assert [(labels["buc"], value) for labels, value in cases] == [("S_BUC_01", 1.0)]
    assert scraped[CNS]["eessi_messages_total"]  # and the scrape never names a case or message
    for samples in scraped.values():
        for rows in samples.values():
            for labels, _ in rows:
                assert not {"case", "case_id", "message_id"} & labels.keys()
