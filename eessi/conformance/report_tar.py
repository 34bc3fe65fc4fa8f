"""GITB TAR XML of a conformance run: the EU Interoperability Test Bed's Test Assertion Report.

The root is a ``TestStepReport`` of type ``TAR`` (namespace ``http://www.gitb.com/tr/v1/``):
the whole run, its result (``SUCCESS`` only when every assertion held) and counters; its
``reports`` hold one ``TAR`` per conformance test case (``UNDEFINED`` when skipped), and each of
those one ``BAR`` per step: ``info`` for a step that held, ``error`` per finding (the assertion
ID ``CASE/step-N/check``, the description, the location: SED, message ID, XPath and line; the
``test`` expected and the ``value`` found), ``warning`` for a skipped step or case. The file is
valid against the ITB's own ``gitb_tr.xsd`` (``tests/conformance`` checks it).
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from eessi import __version__
from eessi.conformance.model import CaseResult, Outcome, SuiteResult

__all__ = ["TR_NAMESPACE", "tar_xml"]

TR_NAMESPACE = "http://www.gitb.com/tr/v1/"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_RESULT = {Outcome.PASSED: "SUCCESS", Outcome.FAILED: "FAILURE", Outcome.SKIPPED: "UNDEFINED"}


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{TR_NAMESPACE}}}{name}")
    if text is not None:
        el.text = text
    return el


def _bar(
    parent: etree._Element,
    level: str,
    assertion: str,
    description: str,
    *,
    location: str = "",
    test: str = "",
    value: str = "",
) -> None:
    el = _el(parent, level)
    el.set(f"{{{_XSI}}}type", "BAR")
    _el(el, "assertionID", assertion)
    _el(el, "description", description)
    if location:
        _el(el, "location", location)
    if test:
        _el(el, "test", test)
    if value:
        _el(el, "value", value)


def _counters(parent: etree._Element, assertions: int, errors: int, warnings: int) -> None:
    c = _el(parent, "counters")
    _el(c, "nrOfAssertions", str(assertions))
    _el(c, "nrOfErrors", str(errors))
    _el(c, "nrOfWarnings", str(warnings))


def _date(at: datetime | None, fallback: datetime) -> str:
    return (at or fallback).isoformat()


def _case(parent: etree._Element, result: CaseResult, fallback: datetime) -> tuple[int, int, int]:
    tar = _el(parent, "reports")
    tar.set("id", result.case.id)
    tar.set("name", result.case.title)
    _el(tar, "date", _date(result.started, fallback))
    _el(tar, "result", _RESULT[result.outcome])
    errors = sum(len(s.findings) for s in result.steps)
    warnings = sum(1 for s in result.steps if s.outcome is Outcome.SKIPPED)
    if result.outcome is Outcome.SKIPPED:
        warnings += 1
    assertions = max(1, len(result.steps)) + errors
    _counters(tar, assertions, errors, warnings)
    group = _el(tar, "reports")
    if result.outcome is Outcome.SKIPPED:
        _bar(group, "warning", f"{result.case.id}/skipped", f"skipped: {result.reason}")
    for s in result.steps:
        base = f"{result.case.id}/step-{s.step.index}"
        if s.outcome is Outcome.SKIPPED:
            _bar(group, "warning", base, f"{s.step.title}: skipped ({s.note})")
        elif not s.findings:
            _bar(group, "info", base, f"{s.step.title}: {s.note}")
        for f in s.findings:
            detail = f.message + (f" [{', '.join(f.rules)}]" if f.rules else "")
            if f.explanation:
                detail += f" ({f.explanation})"
            _bar(
                group,
                "error",
                f"{base}/{f.check}",
                f"{s.step.title}: {detail}",
                location=f.where(),
                test=f.expected,
                value=f.found,
            )
    return assertions, errors, warnings


def tar_xml(result: SuiteResult) -> bytes:
    nsmap = {None: TR_NAMESPACE, "xsi": _XSI}
    root = etree.Element(f"{{{TR_NAMESPACE}}}TestStepReport", nsmap=nsmap)  # type: ignore[arg-type]
    root.set(f"{{{_XSI}}}type", "TAR")
    root.set("id", f"eessi-conformance-{result.suite.role}")
    root.set("name", result.suite.title)
    _el(root, "date", result.started.isoformat())
    _el(root, "result", "SUCCESS" if result.passed else "FAILURE")
    overview = _el(root, "overview")
    _el(overview, "profileID", f"eessi-conformance/{result.suite.role}")
    _el(overview, "validationServiceName", "eessi-sim conformance")
    _el(overview, "validationServiceVersion", __version__)
    _el(overview, "note", f"SUT {result.suite.sut} at {result.sut_url}: {result.summary()}")
    counters = _el(root, "counters")
    reports = _el(root, "reports")
    totals = [0, 0, 0]
    for case in result.cases:
        for i, n in enumerate(_case(reports, case, result.started)):
            totals[i] += n
    _el(counters, "nrOfAssertions", str(totals[0]))
    _el(counters, "nrOfErrors", str(totals[1]))
    _el(counters, "nrOfWarnings", str(totals[2]))
    if not len(reports):
        root.remove(reports)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
