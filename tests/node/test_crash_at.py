"""``EESSI_CRASH_AT``: a value that names no crash point is refused at start-up, not ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eessi.errors import ConfigError
from eessi.node.institution import CRASH_ENV, NodeOptions


@pytest.mark.parametrize(
    "value",
    ["after-accept", "before-commit", "after-commit:S071", "remote-input", "remote-input-taken"],
)
def test_a_known_crash_point_is_taken(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(CRASH_ENV, value)
    assert NodeOptions.from_env().crash_at == value


@pytest.mark.parametrize("value", ["after-comit", "after-commit:S999", "after-commit:", "1"])
def test_a_crash_point_that_does_not_exist_is_refused_with_the_allowed_ones(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(CRASH_ENV, value)
    with pytest.raises(ConfigError) as caught:
        NodeOptions.from_env()
    err = caught.value
    assert err.code == "config.crash-at"
    assert err.where == CRASH_ENV
    assert err.hint is not None
    assert "after-accept, before-commit, after-commit" in err.hint
    assert err.details["allowed"] == [
        "after-accept",
        "before-commit",
        "after-commit",
        "remote-input-taken",
        "remote-input",
    ]


def test_eessi_serve_with_a_misspelt_crash_point_exits_before_opening_its_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cns.sqlite"
    env = {**os.environ, CRASH_ENV: "after-comit"}
    proc = subprocess.run(
        [sys.executable, "-m", "eessi", "serve", "--institution", "LU:CNS00001", "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "EESSI_CRASH_AT='after-comit' names no crash point" in proc.stderr
    assert "after-accept, before-commit, after-commit" in proc.stderr
    assert not db.exists()
