from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eessi.cli import main


def test_lists_the_default_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["institutions"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("6 institutions in ")
    assert lines[1].split()[:2] == ["IR", "ID"]
    cns = next(line for line in lines if line.startswith("LU:CNS00001"))
    for cell in ("LU", "cns", "http://127.0.0.1:8701/as4", "S_BUC_01, S_BUC_01A, S_BUC_24"):
        assert cell in cns
    serbia = next(line for line in lines if line.startswith("RS:"))
    assert "outside EESSI" in serbia
    assert "sim-only" not in out


def test_json_lists_every_field_but_the_credential(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["institutions", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ids = [i["id"] for i in doc["institutions"]]
    assert ids[0] == "LU:CNS00001"
    assert "FR:CPAM5701" in ids
    first = doc["institutions"][0]
    assert set(first) == {
        "id", "country", "name", "kind", "roles", "endpoint", "admin", "eessi", "bucs",
        "versions", "languages",
    }  # fmt: skip
    assert first["versions"] == ["4.3", "4.4"]


def test_lists_a_given_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "net.toml"
    path.write_text(
        """
[[institution]]
id = "NO:NAVT003"
country = "NO"
name = "NAV"
roles = ["competent"]
endpoint = "https://sut.example.test/as4"
bucs = ["S_BUC_24"]
versions = ["4.4"]
credential = "a-long-enough-test-secret"
""",
        encoding="utf-8",
    )
    assert main(["institutions", "--directory", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"1 institutions in {path}" in out
    assert "NO:NAVT003  NO       NAV   external  https://sut.example.test/as4  S_BUC_24" in out


def test_a_wrong_directory_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "net.toml"
    path.write_text('[[institution]]\nid = "LU-CNS"\n', encoding="utf-8")
    assert main(["institutions", "--directory", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eessi institutions: error: ")
    assert str(path) in err
    assert "institution #1" in err


def test_a_wrong_directory_with_json_prints_the_error_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["institutions", "--json", "--directory", str(tmp_path / "none.toml")]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["code"] == "directory.missing"


def test_runs_as_a_command_from_any_directory(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "eessi", "institutions"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "LU:CNS00001" in out.stdout
