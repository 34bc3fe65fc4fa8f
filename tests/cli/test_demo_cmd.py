from __future__ import annotations

import pytest

from eessi.cli import main
from eessi.sed import examples
from eessi.sed.catalogue import SEDS


def test_demo_validates_every_sed_in_every_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:4] in SEDS]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (code, v) for code, sed in SEDS.items() for v in sed.versions
    )
    assert all(r[-1] == "valid" for r in rows)
    n = sum(len(sed.versions) for sed in SEDS.values())
    assert f"{n} documents, {n} valid, 0 invalid" in out


def test_demo_exits_1_and_names_the_issue_when_an_example_is_invalid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = examples.example_xml

    def broken_s071(code: str, version: str = "4.4", seed: int = 0) -> bytes:
        data = real(code, version, seed)
        return data.replace(b"<familyName>", b"<surname>").replace(b"</familyName>", b"</surname>")

    monkeypatch.setattr(examples, "example_xml", broken_s071)
    assert main(["demo", "sed-catalogue"]) == 1
    out = capsys.readouterr().out
    assert "INVALID sed.schema-violation" in out
    assert "surname" in out


def test_demo_list_names_the_demos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    assert capsys.readouterr().out.startswith("sed-catalogue ")


def test_unknown_demo_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "no-such-demo"]) == 2
    assert "no demo named 'no-such-demo'" in capsys.readouterr().err
