"""The example of ``docs/pytest-plugin.md``, copied verbatim from the page into a fresh project
and run there: whatever the project's asyncio set-up (issue 12.1)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytest-plugin.md"


def doc_example() -> str:
    """The first ``python`` code block of the page, as it is written there."""
    found = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert found, f"{DOC} has no python example"
    return found.group(1)


def _plugin_args() -> list[str]:
    if entry_points(group="pytest11", name="eessi"):
        return []
    return ["-p", "eessi.pytest_plugin"]


@pytest.mark.parametrize(
    ("ini", "args"),
    [
        pytest.param(None, [], id="fresh-project-no-configuration"),
        pytest.param("[pytest]\nasyncio_mode = strict\n", [], id="pytest-asyncio-strict"),
        pytest.param("[pytest]\nasyncio_mode = auto\n", [], id="pytest-asyncio-auto"),
        pytest.param(None, ["-p", "no:asyncio"], id="no-async-plugin"),
    ],
)
def test_the_documented_example_runs_verbatim_in_a_fresh_project(
    pytester: pytest.Pytester, ini: str | None, args: list[str]
) -> None:
    if ini is not None:
        pytester.makeini(ini)
    pytester.makepyfile(test_from_the_docs=doc_example())
    # In a process of its own, as the tester runs it (nothing of this session leaks in).
    result = pytester.runpytest_subprocess(*_plugin_args(), *args, "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
