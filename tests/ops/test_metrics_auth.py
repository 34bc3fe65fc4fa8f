"""``/metrics`` and ``/api/health/live`` of a real ``eessi serve`` started with
``EESSI_ADMIN_TOKEN`` (as in a container, docs/operations.md): both want
``Authorization: Bearer <token>``, even over loopback; without it or with another token they
answer 401 and say what to send, and give nothing away."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_support import CNS, Serve, write_directory

pytestmark = pytest.mark.slow

TOKEN = "ops-test-token-5f3a9c"


@pytest.mark.parametrize("path", ["/metrics", "/api/health/live"])
async def test_a_node_started_with_a_token_wants_it_for_metrics_and_liveness(
    tmp_path: Path, path: str
) -> None:
    cns = Serve(
        write_directory(tmp_path), CNS, tmp_path / "cns.sqlite", tmp_path / "cns.log",
        env={"EESSI_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    await cns.start()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        await cns.wait_ready(headers=bearer)
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
                async with session.get(cns.url + path, headers=headers) as resp:
                    assert resp.status == 401, headers
                    assert resp.headers["WWW-Authenticate"] == "Bearer"
                    error = (await resp.json())["error"]
                    assert error["code"] == "admin.unauthorized"
                    assert "Authorization: Bearer" in error["hint"]
                    assert "eessi_" not in await resp.text()
            async with session.get(cns.url + path, headers=bearer) as resp:
                assert resp.status == 200
                text = await resp.text()
    finally:
        code, _ = await cns.terminate()
    assert code == 0
    if path == "/metrics":
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"eessi_messages", "eessi_outbox_depth", "eessi_journal_commit_seconds"} <= names
