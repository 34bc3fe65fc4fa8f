"""The conformance suite as pytest items: one item per conformance test case.

Installed with eessi-sim (``pytest11`` entry point ``eessi-conformance``; without it,
``pytest -p eessi.conformance.pytest_support``). Nothing happens unless asked::

    pytest --eessi-conformance cns --eessi-sut LU:CNS00001 --eessi-sut-directory my-net.toml

adds one item per test case of the role's suite (``conformance[CNS-S071-01]``...), selectable
with ``-k`` like any other. The suite runs once, when the first item runs (our institutions on
the directory's endpoints, facing the SUT); each item then passes, fails with its findings
(step, message ID, XPath, line, expected, found, rules) or is skipped with the reason.
``--eessi-conformance-report-dir DIR`` also writes the reports there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from eessi.conformance.model import CaseResult, Outcome, SuiteResult, TestCase

__all__ = ["ConformanceItem"]

_RESULT = pytest.StashKey[SuiteResult]()
_FAILED = pytest.StashKey[BaseException]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("eessi-conformance", "EESSI conformance suite (docs/conformance.md)")
    group.addoption(
        "--eessi-conformance",
        choices=("cns", "fund"),
        metavar="ROLE",
        help="add one item per test case of the conformance suite of ROLE (cns or fund)",
    )
    group.addoption("--eessi-sut", metavar="URL|ID", help="the system under test")
    group.addoption("--eessi-sut-directory", metavar="FILE", help="the directory the SUT was given")
    group.addoption("--eessi-conformance-schemas", metavar="DIR", help="official XSDs too")
    group.addoption("--eessi-conformance-report-dir", metavar="DIR", help="write the reports")
    group.addoption(
        "--eessi-conformance-within",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for each document the SUT must send (default 10)",
    )
    group.addoption(
        "--eessi-conformance-deadline-seconds",
        type=float,
        metavar="SECONDS",
        help="a SUT without the clock route, its reply deadlines configured short: its"
        " two-month reply deadline lasts SECONDS (the deadline cases wait in real time)",
    )


class ConformanceItem(pytest.Item):
    """One conformance test case."""

    def __init__(self, *, case: TestCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.user_properties.append(("covers", " ".join(case.covers)))

    def runtest(self) -> None:
        result = _suite_result(self.config)
        (mine,) = [c for c in result.cases if c.case.id == self.case.id]
        if mine.outcome is Outcome.SKIPPED:
            pytest.skip(mine.reason)
        if mine.outcome is Outcome.FAILED:
            pytest.fail(_failure_text(mine), pytrace=False)

    def reportinfo(self) -> tuple[str, int, str]:
        return "conformance", 0, f"{self.case.id}: {self.case.title}"


def _failure_text(result: CaseResult) -> str:
    lines = [f"{result.case.id}: {result.case.title}"]
    for s in result.steps:
        for f in s.findings:
            lines.append(f"step {s.step.index} ({s.step.title}): {f.render()}")
    return "\n".join(lines)


def _suite_result(config: pytest.Config) -> SuiteResult:
    if _FAILED in config.stash:
        raise config.stash[_FAILED]
    if _RESULT not in config.stash:
        from eessi.conformance.reports import write_reports
        from eessi.conformance.runner import RunSettings, run_suite
        from eessi.conformance.suite import load_suite, shipped_suite
        from eessi.directory import default_directory_path, load_directory

        role = config.getoption("eessi_conformance")
        sut = config.getoption("eessi_sut")
        if not sut:
            raise pytest.UsageError("--eessi-conformance needs --eessi-sut URL|ID")
        directory = load_directory(
            config.getoption("eessi_sut_directory") or default_directory_path()
        )
        try:
            result = asyncio.run(
                run_suite(
                    load_suite(shipped_suite(role)),
                    directory,
                    sut,
                    only=[i.case.id for i in _items(config)],
                    schemas=config.getoption("eessi_conformance_schemas"),
                    settings=RunSettings(
                        within=config.getoption("eessi_conformance_within"),
                        deadline_seconds=config.getoption("eessi_conformance_deadline_seconds"),
                    ),
                )
            )
        except Exception as exc:
            config.stash[_FAILED] = exc
            raise
        config.stash[_RESULT] = result
        report_dir = config.getoption("eessi_conformance_report_dir")
        if report_dir:
            write_reports(result, report_dir)
    return config.stash[_RESULT]


_ITEMS = pytest.StashKey[list[ConformanceItem]]()


def _items(config: pytest.Config) -> Iterator[ConformanceItem]:
    yield from config.stash.get(_ITEMS, [])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    role = config.getoption("eessi_conformance", None)
    if not role:
        return
    from eessi.conformance.suite import load_suite, shipped_suite

    suite = load_suite(shipped_suite(role))
    made = [
        ConformanceItem.from_parent(session, name=f"conformance[{case.id}]", case=case)
        for case in suite.cases
    ]
    keyword = config.getoption("keyword", "")
    if keyword:  # -k selects among these too (they were made after pytest's own selection)
        from _pytest.mark import KeywordMatcher
        from _pytest.mark.expression import Expression

        expr = Expression.compile(keyword)
        made = [i for i in made if expr.evaluate(KeywordMatcher.from_item(i))]
    config.stash[_ITEMS] = made
    items.extend(made)
