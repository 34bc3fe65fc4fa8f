"""The assertions on every document the system under test (SUT) sent.

For each document: valid against our schema and, when given, the institution's official
schemas (:func:`schema_findings`: libxml2 finds the issues, xmlschema explains them, off the hot
path); legal in the BUC's state machine at that moment (:func:`state_findings`: the receiving
desk of ours applies :mod:`eessi.core.buc_table` and journals an illegal step ``rejected`` with
its reason); and its content where the core can judge it (:func:`entitlement_findings`: an S072
confirms or refuses as :func:`eessi.core.eligibility.decide` does, with its start date, citing
the rules). Every finding names the message, the XPath and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from lxml import etree

from eessi.conformance.model import Finding, SutMessage
from eessi.core.eligibility import decide
from eessi.core.facts import DocumentKind, Fact, Facts
from eessi.core.household import Household
from eessi.errors import DomainError, SedError
from eessi.mock.journal_query import namespaces_for
from eessi.sed import xmlsafe
from eessi.sed.schemas import SchemaSet
from eessi.sed.validate import ValidationReport, validate

__all__ = [
    "entitlement_findings",
    "locate",
    "schema_findings",
    "state_findings",
    "xpath_findings",
]

_CONFIRMED = "/sed:S072/entitlementConfirmed/value"
_START = "/sed:S072/PeriodEntitlement/*/startDate"


def _explained(
    data: bytes, report: ValidationReport, schemas: SchemaSet | None
) -> ValidationReport:
    from eessi.sed.explain import explain  # xmlschema: only for a document that failed

    return explain(data, report, schemas=schemas)


def schema_findings(msg: SutMessage, official: SchemaSet | None = None) -> list[Finding]:
    """The document against our schemas, then against ``official`` ones (``--schemas DIR``)
    when that set has a schema for its SED and version."""
    out: list[Finding] = []
    sets: list[tuple[str, SchemaSet | None]] = [("our schema", None)]
    if official is not None:
        sets.append((f"the official schema ({official.directory})", official))
    for label, schemas in sets:
        report = validate(msg.payload, schemas=schemas)
        if report.ok:
            continue
        if schemas is not None and any(
            i.code in ("sed.unsupported-version", "sed.unknown-type") for i in report.errors
        ):
            continue  # the official set has no schema for it: nothing to say there
        report = _explained(msg.payload, report, schemas)
        for issue in report.errors:
            why = None
            if issue.explanation is not None:
                why = issue.explanation.reason
                if issue.explanation.expected:
                    why += f" (expected: {', '.join(issue.explanation.expected)})"
            out.append(
                Finding(
                    check="schema",
                    message=f"{msg.sed} {msg.version} is not valid against {label}",
                    expected=f"a document valid against {label}",
                    found=issue.message,
                    message_id=msg.message_id,
                    sed=msg.sed,
                    xpath=issue.xpath,
                    line=issue.line,
                    explanation=why,
                )
            )
    return out


def state_findings(msg: SutMessage) -> list[Finding]:
    """What our receiving desk said of the document: ``rejected`` is an illegal step in the
    BUC at that moment; ``processing_failed`` a document our side could not apply."""
    if msg.status == "rejected":
        return [
            Finding(
                check="buc-state",
                message=f"{msg.sed} is not legal in case {msg.case} at that moment",
                expected="a document the BUC's state machine allows in the case's state",
                found=msg.error or "rejected by the receiving desk",
                message_id=msg.message_id,
                sed=msg.sed,
                xpath=f"/sed:{msg.sed}",
                line=1,
            )
        ]
    if msg.status == "processing_failed":
        return [
            Finding(
                check="content",
                message=f"{msg.sed} could not be applied by {msg.receiver}",
                found=msg.error or "processing failed",
                message_id=msg.message_id,
                sed=msg.sed,
            )
        ]
    return []


def locate(payload: bytes, xpath: str) -> tuple[list[str], int | None]:
    """The text values ``xpath`` selects (prefix-insensitive, ``sed:`` bound to the document's
    namespace) and the line of the first node selected; ``([], None)`` when nothing matches or
    the payload is not XML. A boolean or string expression gives its value as text."""
    try:
        root = xmlsafe.parse(payload)
    except SedError:
        return [], None
    try:
        value = root.xpath(xpath, namespaces=namespaces_for(root))
    except etree.XPathError:
        return [], None
    if isinstance(value, bool):
        return (["true"] if value else []), None
    if isinstance(value, (str, float)):
        return [str(value)], None
    texts: list[str] = []
    line: int | None = None
    for node in value if isinstance(value, list) else []:
        if isinstance(node, etree._Element):
            texts.append((node.text or "").strip())
            if line is None:
                line = _line(node)
        else:
            texts.append(str(node))
    return texts, line


def _line(node: etree._Element) -> int | None:
    number: object = node.sourceline
    return number if isinstance(number, int) else None


def xpath_findings(msg: SutMessage, xpaths: list[str]) -> list[Finding]:
    """Each XPath must hold on the document (a boolean true, a non-empty node-set)."""
    out = []
    for xpath in xpaths:
        values, _line = locate(msg.payload, xpath)
        if not values:
            out.append(
                Finding(
                    check="xpath",
                    message=f"{msg.sed} does not hold {xpath}",
                    expected=xpath,
                    found="false / nothing selected",
                    message_id=msg.message_id,
                    sed=msg.sed,
                    xpath=xpath,
                )
            )
    return out


def _member(households: Mapping[str, Household], person: str) -> tuple[Household, str] | None:
    household_id, _, member = person.partition("/")
    household = households.get(household_id)
    if household is None or member not in {m.id for m in household.members}:
        return None
    return household, member


def entitlement_findings(
    msg: SutMessage,
    households: Mapping[str, Household],
    person: str,
    fund: str,
    today: date,
) -> list[Finding]:
    """An S072 answering ``fund``'s S071 about ``person`` must confirm exactly when the core
    decides the member eligible once the S072 and S073 are exchanged (R13/R17 wait for them
    only), from the start date the core gives; otherwise it must not confirm. Cites the rules
    of the decision."""
    found = _member(households, person)
    if found is None or msg.sed != "S072":
        return []
    household, member = found
    facts = Facts().with_(
        Fact(DocumentKind.S071, member=member, institution=fund, on=today),
        Fact(DocumentKind.S072, member=member, on=today),
        Fact(DocumentKind.S073, member=member, institution=fund, on=today),
    )
    try:
        decision = decide(household, member, on=today, facts=facts)
    except DomainError as exc:  # pragma: no cover - the suite's own households are checked
        return [Finding(check="content", message=str(exc), message_id=msg.message_id)]
    values, line = locate(msg.payload, _CONFIRMED)
    confirmed = values[:1] == ["01"]
    rules = decision.rules
    if decision.eligible:
        if not confirmed:
            return [
                Finding(
                    check="content",
                    message=f"the S072 for {person} does not confirm the entitlement",
                    expected=f"entitlementConfirmed 01 from {decision.start}"
                    f" ({decision.outcome.value})",
                    found=f"entitlementConfirmed {values[0] if values else '(missing)'}",
                    message_id=msg.message_id,
                    sed="S072",
                    xpath=_CONFIRMED,
                    line=line,
                    rules=rules,
                )
            ]
        starts, start_line = locate(msg.payload, _START)
        want = decision.start.isoformat() if decision.start else ""
        if starts[:1] != [want]:
            return [
                Finding(
                    check="content",
                    message=f"the S072 for {person} confirms from the wrong date",
                    expected=f"startDate {want}",
                    found=f"startDate {starts[0] if starts else '(missing)'}",
                    message_id=msg.message_id,
                    sed="S072",
                    xpath=_START,
                    line=start_line,
                    rules=rules,
                )
            ]
        return []
    if confirmed:
        missing = ", ".join(m.kind.value for m in decision.missing)
        state = decision.outcome.value.replace("_", " ")
        return [
            Finding(
                check="content",
                message=f"the S072 for {person} confirms an entitlement the rules do not give",
                expected=f"no confirmed S072: {state}"
                + (f" (still missing: {missing})" if missing else ""),
                found="entitlementConfirmed 01",
                message_id=msg.message_id,
                sed="S072",
                xpath=_CONFIRMED,
                line=line,
                rules=rules,
            )
        ]
    return []
