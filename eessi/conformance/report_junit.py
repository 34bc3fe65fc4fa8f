"""JUnit XML of a conformance run: one ``testcase`` per conformance test case.

The de-facto schema CI dashboards read (Jenkins, GitLab, GitHub actions): ``testsuites`` with
one ``testsuite`` (the role's suite) whose ``tests``, ``failures``, ``errors`` and ``skipped``
count the test cases as the terminal does. A failed test case has one ``failure`` whose message
is its first finding and whose text lists every finding with its step, message ID, XPath and
line; a skipped one says why; ``system-out`` lists the steps.
"""

from __future__ import annotations

from lxml import etree

from eessi.conformance.model import CaseResult, Outcome, SuiteResult

__all__ = ["junit_xml"]


def _case(parent: etree._Element, role: str, result: CaseResult) -> None:
    el = etree.SubElement(
        parent,
        "testcase",
        classname=f"eessi.conformance.{role}",
        name=f"{result.case.id}: {result.case.title}",
        time=f"{result.seconds:.3f}",
    )
    if result.outcome is Outcome.SKIPPED:
        etree.SubElement(el, "skipped", message=result.reason)
    elif result.outcome is Outcome.FAILED:
        lines = []
        first = None
        for step in result.steps:
            for f in step.findings:
                first = first or f
                lines.append(f"step {step.step.index} ({step.step.title}): {f.render()}")
        failure = etree.SubElement(
            el,
            "failure",
            message=first.message if first else "failed",
            type=first.check if first else "failed",
        )
        failure.text = "\n".join(lines)
    out = etree.SubElement(el, "system-out")
    out.text = "\n".join(
        f"step {s.step.index} {s.outcome.value.upper()}: {s.step.title} - {s.note}"
        for s in result.steps
    )
    props = etree.SubElement(el, "properties")
    etree.SubElement(props, "property", name="covers", value=" ".join(result.case.covers))


def junit_xml(result: SuiteResult) -> bytes:
    root = etree.Element("testsuites")
    counts = {
        "tests": str(len(result.cases)),
        "failures": str(result.count(Outcome.FAILED)),
        "errors": "0",
        "skipped": str(result.count(Outcome.SKIPPED)),
        "time": f"{result.seconds:.3f}",
    }
    root.attrib.update({k: v for k, v in counts.items() if k != "skipped"})
    suite = etree.SubElement(root, "testsuite")
    suite.set("name", f"eessi conformance {result.suite.role}")
    suite.set("timestamp", result.started.replace(tzinfo=None).isoformat(timespec="seconds"))
    suite.set("hostname", result.sut_url)
    for key, value in counts.items():
        suite.set(key, value)
    for case in result.cases:
        _case(suite, result.suite.role, case)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
