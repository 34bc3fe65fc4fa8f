"""What ``eessi serve`` imports before it answers (issue 9.11, D187, D230-D232).

A CNS on a SQLite journal and eDelivery AS4 loads neither PostgreSQL's driver nor the mock
funds' modules nor the shared-institution partitions, nor the in-memory twin, nor the other
commands' modules, nor the HMAC envelope's codec, framing, endpoint and sender; a real
process, its imports read from ``python -X importtime``. (aiohttp's client side is loaded:
``aiohttp/__init__`` imports it with the server, D232.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from node_kit import CNS, write_directory

#: Modules a lone CNS on SQLite has no use for before (or after) it answers.
NOT_NEEDED = (
    "asyncpg",
    "eessi.journal.postgres",
    "eessi.mock",
    "eessi.node.partitions",
    "eessi.transport.twin",  # the in-memory network's hub (D230)
    "eessi.cli.trace",  # another command's module (only ``eessi serve``'s is imported, D231)
    # the HMAC envelope's own modules: its XML codec, framing, endpoint and sender (D232)
    "eessi.transport.envelope_xml",
    "eessi.transport.framing",
    "eessi.transport.hmac_endpoint",
    "eessi.transport.hmac_sender",
)


def imported_until_listening(tmp_path: Path, *extra: str) -> set[str]:
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "eessi", "serve", "--institution", CNS,
         "--directory", str(write_directory(tmp_path)), "--db", str(tmp_path / "cns.sqlite"),
         "--host", "127.0.0.1", "--port", "0", "--tick", "0", "--no-security", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                break
        else:
            raise AssertionError(f"eessi serve exited ({proc.wait()}) before listening")
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=60)
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in err.splitlines()
        if line.startswith("import time:")
    }
    assert "eessi.node.institution" in modules  # the import times were read
    return modules


def test_a_cns_on_as4_starts_without_postgres_mock_partition_twin_or_hmac_envelope_modules(
    tmp_path: Path,
) -> None:
    modules = imported_until_listening(tmp_path)
    loaded = sorted(m for m in modules if m.split(".")[0] == "asyncpg" or m in NOT_NEEDED)
    loaded += sorted(m for m in modules if m.startswith("eessi.mock."))
    assert loaded == []


def test_prometheus_client_is_imported_at_the_first_scrape_and_metrics_are_served(
    tmp_path: Path,
) -> None:
    """D210: ``prometheus_client`` is not imported before the node answers ready; the first
    ``GET /metrics`` imports it and serves every series, with the start's own journal
    commits counted (kept aside until then)."""
    import json
    import urllib.request

    err_path = tmp_path / "importtime.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "eessi", "serve", "--institution", CNS,
             "--directory", str(write_directory(tmp_path)), "--db", str(tmp_path / "cns.sqlite"),
             "--host", "127.0.0.1", "--port", "0", "--tick", "0", "--no-security"],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
                break
        assert url, f"eessi serve exited ({proc.wait()}) before listening"
        with urllib.request.urlopen(f"{url}/api/health/ready", timeout=30) as r:
            assert r.status == 200
            assert json.loads(r.read())  # answered: ready
        before = _modules(err_path.read_text())
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as r:
            assert r.status == 200
            text = r.read().decode()
        after = _modules(err_path.read_text())
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert "eessi.node.institution" in before  # the import times were read
    assert "prometheus_client" not in before
    assert "prometheus_client" in after
    assert 'eessi_outbox_depth{institution="LU:CNS00001"} 0.0' in text
    commits = [
        line for line in text.splitlines()
        if line.startswith("eessi_journal_commit_seconds_count{")
    ]  # fmt: skip
    assert len(commits) == 1
    assert float(commits[0].rsplit(" ", 1)[1]) >= 1  # the start's own commits


def _modules(importtime: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:")
    }
