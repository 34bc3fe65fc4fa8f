"""docs/state-diagrams.md is generated from the transition tables and must be up to date."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from eessi.core.buc_table import TRANSITIONS
from eessi.sed.catalogue import Role

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    path = ROOT / "scripts" / "render_state_diagrams.py"
    spec = importlib.util.spec_from_file_location("render_state_diagrams", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_state_diagrams_match_the_tables() -> None:
    committed = (ROOT / "docs" / "state-diagrams.md").read_text(encoding="utf-8")
    assert committed == _script().render(), (
        "docs/state-diagrams.md is stale: run python scripts/render_state_diagrams.py"
    )


def test_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    stale = tmp_path / "state-diagrams.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(script, "OUTPUT", stale)
    assert script.main(["--check"]) == 1
    assert script.main([]) == 0
    assert script.main(["--check"]) == 0


def test_every_state_changing_step_is_drawn_in_its_role_diagram() -> None:
    text = _script().render()
    blocks = re.findall(
        r"### (\S+) as (case owner|counterparty)\n\n```mermaid\n(.*?)```", text, re.S
    )
    assert len(blocks) == 2 * len(TRANSITIONS)
    for buc, role_name, body in blocks:
        role = Role.CASE_OWNER if role_name == "case owner" else Role.COUNTERPARTY
        edges = {
            (src, dst): label.split(", ")
            for src, dst, label in re.findall(r"(\w+) --> (\w+) : (.+)", body)
        }
        for state, steps in TRANSITIONS[buc][role].items():
            for step, target in steps.items():
                if target is not state:
                    assert str(step) in edges[(state.name, target.name)], (buc, role, step)
