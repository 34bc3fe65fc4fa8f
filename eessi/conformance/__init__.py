"""Conformance testing: a verdict on the tester's own CNS or fund (``docs/conformance.md``).

:mod:`~eessi.conformance.suite` reads the suites (TOML, shipped in ``data/``),
:mod:`~eessi.conformance.runner` plays them against a system under test,
:mod:`~eessi.conformance.judge` holds each of its documents to the schema, the BUC state and the
rules, and the ``report_*`` modules write JUnit XML, GITB TAR XML, JSON and HTML.
"""

from __future__ import annotations

from eessi.conformance.model import CaseResult, Finding, Outcome, Suite, SuiteResult, TestCase
from eessi.conformance.runner import RunSettings, run_suite
from eessi.conformance.suite import load_suite, shipped_suite

__all__ = [
    "CaseResult",
    "Finding",
    "Outcome",
    "RunSettings",
    "Suite",
    "SuiteResult",
    "TestCase",
    "load_suite",
    "run_suite",
    "shipped_suite",
]
