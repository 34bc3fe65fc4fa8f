"""The OpenAPI documents are valid and true (issue 12.8): ``openapi-spec-validator`` accepts
what a live node serves, and a bounded ``schemathesis`` run drives the live admin API of the
CNS and of a mock fund (``eessi up`` in its own process, on loopback): every response has a
documented status and content type and matches its schema, and none is a 5xx.

Bounded and reproducible: a fixed number of examples per operation, derandomized (the same
requests every run), no example database; long polls are asked not to wait.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from eessi.directory import default_directory_path

CNS = "LU:CNS00001"
FR = "FR:CPAM5701"
#: Examples per operation (15 operations on the CNS, 26 on a mock fund: about 400 requests).
EXAMPLES = 10
#: Bound on the start and stop of the process (a hang fails here).
BOUND = 60.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _directory(where: Path) -> Path:
    """The shipped directory with every endpoint on a free loopback port, no admin URLs."""
    import socket

    text = default_directory_path().read_text(encoding="utf-8")
    socks = []

    def port(_m: re.Match[str]) -> str:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        return f"127.0.0.1:{s.getsockname()[1]}"

    text = re.sub(r"127\.0\.0\.1:87\d\d", port, text)
    for s in socks:
        s.close()
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``eessi up`` in its own process; the base URL of each institution."""
    tmp = tmp_path_factory.mktemp("up")
    env = {k: v for k, v in os.environ.items() if k not in ("EESSI_ADMIN_TOKEN", "EESSI_CRASH_AT")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "eessi", "up", "--directory", str(_directory(tmp)),
         "--db-dir", str(tmp / "db"), "--tick", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        text=True,
    )  # fmt: skip
    watchdog = threading.Timer(BOUND, proc.kill)
    watchdog.start()
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.match(r"\s+(\S+:\S+)\s+\S+\s+(http://\S+)", line)
            if found:
                urls[found.group(1)] = found.group(2)
            if line.startswith("Ctrl-C"):
                break
        watchdog.cancel()
        assert CNS in urls, f"eessi up did not start: {proc.stderr.read() if proc.stderr else ''}"
        yield urls
    finally:
        watchdog.cancel()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _document(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/api/openapi.json", timeout=BOUND) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


@pytest.mark.parametrize("institution", [CNS, FR])
def test_the_served_document_is_a_valid_openapi_31_document(
    network: dict[str, str], institution: str
) -> None:
    validate(_document(network[institution]))
    if institution == FR:  # the mock routes' own document too
        with urllib.request.urlopen(f"{network[FR]}/api/mock/openapi.json", timeout=BOUND) as r:
            validate(json.loads(r.read()))


def test_a_funds_document_lists_the_mock_routes_and_not_the_cnss_households(
    network: dict[str, str],
) -> None:
    fund, cns = _document(network[FR]), _document(network[CNS])
    assert "/api/mock/rules" in fund["paths"]
    assert "/api/records" in fund["paths"]
    assert "/api/households" not in fund["paths"]
    assert "/api/households" in cns["paths"]
    assert "/api/records" not in cns["paths"]
    assert not any(p.startswith("/api/mock/") for p in cns["paths"])


def _checker(strategy: Any, base: str, statuses: list[int]) -> Any:
    """A Hypothesis test that sends each generated case to ``base`` and checks the answer."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(base_url=base, timeout=BOUND)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    return check


def _drive(base: str) -> tuple[list[str], dict[str, list[int]]]:
    """Every operation of ``base``'s document, up to :data:`EXAMPLES` times; the failures,
    and the statuses answered per operation."""
    schema = schemathesis.openapi.from_dict(_document(base))
    failures: list[str] = []
    statuses: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        query = {"wait": "0"} if operation.path.endswith("/received") else None
        label = f"{operation.method.upper()} {operation.path}"

        check = _checker(operation.as_strategy(query=query), base, statuses.setdefault(label, []))
        try:
            check()
        except Exception as exc:  # collected, reported together
            failures.append(f"{label}: {exc}")
    return failures, statuses


@pytest.mark.parametrize("institution", [CNS, FR])
def test_schemathesis_finds_every_response_documented_and_no_server_error(
    network: dict[str, str], institution: str
) -> None:
    failures, statuses = _drive(network[institution])
    assert not failures, "\n\n".join(failures)
    document = _document(network[institution])
    operations = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    driven = {op for op, codes in statuses.items() if codes}
    assert driven == operations  # every operation was driven
