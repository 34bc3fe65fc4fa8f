"""``eessi demo``: the R17 flow by default, drawn in order, with outcomes and rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eessi.cli import main
from eessi.sed import examples
from eessi.sed.catalogue import SEDS


def test_default_demo_draws_the_R17_flow_in_order_then_the_outcomes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("eessi demo r17-family-abroad:")
    labels = [line.split()[3] for line in out.splitlines() if " PT-" in line and "│ S" in line]
    assert labels == ["S071", "S072", "S073", "S071", "S072", "S073"]
    arrows = [line.strip() for line in out.splitlines() if "──" in line]
    assert arrows[0].startswith("│◀")  # the fund (right) sends the S071 to the CNS (left)
    assert arrows[1].endswith("▶│")
    header = next(
        line for line in out.splitlines() if "LU:CNS00001 (CNS)" in line and "PT:" in line
    )
    assert "PT:ISS00001 (mock)" in header
    first = out.index("│ S071 PT-")
    assert out.index("step 1:") < first < out.index("step 2:") < out.index("│ S071 PT-", first + 1)
    assert "Ana Silva (spouse, ana): REGISTERED with joao from 2025-09-01" in out
    assert "Rui Silva (child, rui): REGISTERED" in out
    assert "R10  co-insured with joao only" in out
    assert "\033[" not in out  # not a terminal: no colours
    assert "every expectation held" in out
    # Over eDelivery AS4 by default, as eessi up: each arrow's message read back from the
    # sender's journal as it went on the wire (D136).
    assert "over eDelivery AS4 on loopback, signed and encrypted" in out.splitlines()[1]
    wire = [line.strip() for line in out.splitlines() if line.strip().startswith("AS4: ")]
    assert [line.split(", ")[2] for line in wire] == [
        "S_BUC_01/S071",
        "S_BUC_01/S072",
        "S_BUC_01/S073",
        "S_BUC_01/S071",
        "S_BUC_01/S072",
        "S_BUC_01/S073",
    ]
    assert all(", signed and encrypted, " in line for line in wire)
    assert "On the wire: 6 eDelivery AS4 user messages" in out


def test_demo_on_the_embedded_transport_has_no_wire(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "r18", "--transport", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "eDelivery AS4" not in out
    assert not [line for line in out.splitlines() if line.strip().startswith("AS4: ")]
    assert "every expectation held" in out


def test_demo_output_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "r18"]) == 0
    first = capsys.readouterr().out
    assert main(["demo", "r18-main-insured-abroad"]) == 0
    assert capsys.readouterr().out == first


def test_mermaid_file_has_the_same_exchange(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "flow.mmd"
    assert main(["demo", "r5-former-fund-s040-s041", "--mermaid", str(target), "--ascii"]) == 0
    text = target.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert lines[1] == "    participant P1 as LU:CNS00001 (CNS)"
    assert lines[2] == "    participant P2 as DE:TKK00001 (mock)"
    assert lines[3].startswith("    P1->>P2: S040 LU-")
    assert lines[4].startswith("    P2->>P1: S041 LU-")
    out = capsys.readouterr().out
    assert "| S040 LU-" in out
    assert "│" not in out


def test_list_names_the_scenarios_and_the_sed_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert "seds" in names
    assert "r17-family-abroad" in names
    assert "(default)" in next(line for line in out.splitlines() if line.startswith("r17"))


def test_unknown_or_ambiguous_demo_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "no-such-demo"]) == 2
    assert "no demo named 'no-such-demo'" in capsys.readouterr().err
    assert main(["demo", "r1"]) == 2  # r13..., r14..., r15... : which one?


def test_ambiguous_demo_prefix_says_which_demos_it_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "r17"]) == 2
    err = capsys.readouterr().err
    assert "'r17' is ambiguous: it starts r17-family-abroad and r17-unreliable-fund" in err
    assert "no demo named" not in err


def _demo_on_a_terminal(term: str) -> bytes:
    """What ``eessi demo`` writes to a pseudo-terminal with ``TERM=term``."""
    import pty

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = term
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eessi", "demo", "r18", "--delay", "0"],
            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env,
        )  # fmt: skip
        os.close(follower)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the demo closed the terminal (it ended)
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        os.close(leader)
    return b"".join(chunks)


def test_dumb_terminal_gets_no_colours() -> None:
    assert b"\033[" in _demo_on_a_terminal("xterm-256color")  # a real terminal: colours
    plain = _demo_on_a_terminal("dumb")
    assert b"\033[" not in plain
    assert b"Scenario check: every expectation held" in plain


def test_seds_demo_validates_every_sed_in_every_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "seds"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:4] in SEDS]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (code, v) for code, sed in SEDS.items() for v in sed.versions
    )
    assert all(r[-1] == "valid" for r in rows)


def test_seds_demo_exits_1_and_names_the_issue_when_an_example_is_invalid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = examples.example_xml

    def broken(code: str, version: str = "4.4", seed: int = 0) -> bytes:
        data = real(code, version, seed)
        return data.replace(b"<familyName>", b"<surname>").replace(b"</familyName>", b"</surname>")

    monkeypatch.setattr(examples, "example_xml", broken)
    assert main(["demo", "seds"]) == 1
    assert "INVALID sed.schema-violation" in capsys.readouterr().out


def test_in_colour_the_cns_and_the_mocks_are_told_apart() -> None:
    import io

    from eessi.cli.demo import play
    from eessi.scenario.format import find_scenario, load_scenario

    out = io.StringIO()
    assert play(load_scenario(find_scenario("r17-family-abroad")), out, colour=True) == 0
    lines = out.getvalue().splitlines()
    cns = [line for line in lines if line.startswith("\033[1;34m") and "──" in line]
    mock = [line for line in lines if line.startswith("\033[33m") and "──" in line]
    assert len(cns) == 2  # the two S072
    assert all("▶" in line for line in cns)
    assert len(mock) == 4  # the S071 and S073 of the fund
    assert any(line.startswith("\033[1;32m  Ana Silva") for line in lines)
