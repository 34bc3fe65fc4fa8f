"""One self-contained HTML file of a conformance run: no script, no external asset.

The summary (counts, one row per test case), then per test case its sequence diagram (inline
SVG: the SUT's lifeline and ours, one arrow per document, red where a finding names it), its
steps with their findings, and each document's XML with line numbers, the lines a finding names
marked and the finding written under them. Opens in any browser from the disk, offline.
"""

from __future__ import annotations

from html import escape

from eessi.conformance.model import CaseResult, Finding, Outcome, SuiteResult, SutMessage

__all__ = ["html_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;
padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.2em;margin-top:2em;border-top:1px solid #d0d7de;padding-top:1em}
.meta{color:#57606a}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-weight:600;color:#fff;
font-size:.85em}
.passed{background:#1a7f37}.failed{background:#cf222e}.skipped{background:#9a6700}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.finding{background:#ffebe9;border-left:4px solid #cf222e;padding:.4em .6em;margin:.3em 0;
white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
.steps li{margin:.3em 0}
.xml{background:#f6f8fa;font:12px/1.4 ui-monospace,monospace;overflow-x:auto;padding:.5em;
border-radius:6px}
.xml .ln{color:#8c959f;display:inline-block;width:3.5em;user-select:none}
.xml .err{background:#ffd8d3;display:block}
.xml .why{color:#cf222e;display:block;padding-left:3.5em}
details{margin:.4em 0}summary{cursor:pointer}svg text{font:12px system-ui,sans-serif}
"""


def _badge(outcome: Outcome) -> str:
    return f'<span class="badge {outcome.value}">{outcome.value.upper()}</span>'


def _messages(result: CaseResult) -> list[SutMessage]:
    return [m for s in result.steps for m in s.messages]


def _flagged(result: CaseResult) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.message_id:
            out.setdefault(f.message_id, []).append(f)
    return out


def _diagram(result: CaseResult, sut: str) -> str:
    messages = _messages(result)
    if not messages:
        return '<p class="meta">No document travelled.</p>'
    flagged = _flagged(result)
    people = [sut, *sorted({m.sender for m in messages} | {m.receiver for m in messages} - {sut})]
    gap, top, row = 260, 40, 34
    width = gap * (len(people) - 1) + 200
    height = top + row * len(messages) + 30
    x = {p: 100 + gap * i for i, p in enumerate(people)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' role="img" aria-label="sequence diagram of {escape(result.case.id)}">',
        '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="context-stroke"/>'
        "</marker></defs>",
    ]
    for p in people:
        label = f"{p} (SUT)" if p == sut else p
        parts.append(
            f'<text x="{x[p]}" y="20" text-anchor="middle" font-weight="600">{escape(label)}</text>'
            f'<line x1="{x[p]}" y1="28" x2="{x[p]}" y2="{height - 5}" stroke="#8c959f"'
            ' stroke-dasharray="4 3"/>'
        )
    for i, m in enumerate(messages):
        y = top + row * i + 20
        bad = m.message_id in flagged or m.status in ("refused", "rejected", "failed")
        colour = "#cf222e" if bad else "#0969da"
        x1, x2 = x[m.sender], x[m.receiver]
        parts.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="1.6"'
            ' marker-end="url(#a)"/>'
            f'<text x="{(x1 + x2) / 2}" y="{y - 5}" text-anchor="middle" fill="{colour}">'
            f"{escape(m.sed)} {escape(m.version)} · {escape(m.status)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _xml(m: SutMessage, findings: list[Finding]) -> str:
    text = m.payload.decode("utf-8", "replace")
    by_line: dict[int, list[Finding]] = {}
    loose: list[Finding] = []
    for f in findings:
        (by_line.setdefault(f.line, []) if f.line else loose).append(f)
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        cls = ' class="err"' if n in by_line else ""
        out.append(f'<span{cls}><span class="ln">{n}</span>{escape(line)}</span>')
        for f in by_line.get(n, []):
            out.append(
                f'<span class="why">▲ {escape(f.message)}: expected {escape(f.expected)}'
                f"; found {escape(f.found)}</span>"
            )
    head = "".join(f'<div class="finding">{escape(f.render())}</div>' for f in loose)
    return head + '<pre class="xml">' + "\n".join(out) + "</pre>"


def _case(result: CaseResult, sut: str) -> str:
    c = result.case
    flagged = _flagged(result)
    parts = [
        f'<h2 id="{escape(c.id)}">{_badge(result.outcome)} {escape(c.id)}: {escape(c.title)}</h2>',
        f'<p class="meta">covers {escape(", ".join(c.covers))}'
        + (f"; case {escape(result.conversation)}" if result.conversation else "")
        + (f"; {result.seconds:.2f} s" if result.outcome is not Outcome.SKIPPED else "")
        + "</p>",
    ]
    if c.description:
        parts.append(f"<p>{escape(c.description)}</p>")
    if result.outcome is Outcome.SKIPPED:
        parts.append(f'<p class="finding">skipped: {escape(result.reason)}</p>')
        return "\n".join(parts)
    parts.append(_diagram(result, sut))
    parts.append('<ol class="steps">')
    for s in result.steps:
        parts.append(
            f"<li>{_badge(s.outcome)} {escape(s.step.title)}"
            f' <span class="meta">{escape(s.note)}</span>'
        )
        parts.extend(f'<div class="finding">{escape(f.render())}</div>' for f in s.findings)
        parts.append("</li>")
    parts.append("</ol>")
    for m in _messages(result):
        mark = " ✗" if m.message_id in flagged else ""
        who = "from the SUT" if m.from_sut else "to the SUT"
        parts.append(
            f"<details{' open' if mark else ''}><summary>{escape(m.sed)} {escape(m.version)}"
            f" {who} ({escape(m.sender)} → {escape(m.receiver)}), message"
            f" {escape(m.message_id)}, {escape(m.status)}{mark}</summary>"
            + _xml(m, flagged.get(m.message_id, []))
            + "</details>"
        )
    return "\n".join(parts)


def _real_time(result: SuiteResult) -> str:
    if result.deadline_seconds is None:
        return ""
    return (
        "; waited in real time (the SUT's two-month reply deadline lasts"
        f" {result.deadline_seconds:g} s)"
    )


def html_report(result: SuiteResult) -> str:
    rows = "".join(
        f'<tr><td><a href="#{escape(c.case.id)}">{escape(c.case.id)}</a></td>'
        f"<td>{escape(c.case.title)}</td><td>{escape(', '.join(c.case.covers))}</td>"
        f"<td>{_badge(c.outcome)}</td><td>{len(c.findings)}</td></tr>"
        for c in result.cases
    )
    counts = " ".join(
        f"{_badge(o)} {result.count(o)}" for o in (Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED)
    )
    body = "\n".join(_case(c, result.suite.sut) for c in result.cases)
    verdict = Outcome.PASSED if result.passed else Outcome.FAILED
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Conformance {escape(result.suite.role)}: {escape(verdict.value)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(result.suite.title)}</h1>
<p class="meta">SUT {escape(result.suite.sut)} at {escape(result.sut_url)}; run
{escape(result.started.isoformat(timespec="seconds"))} in {result.seconds:.1f} s; the SUT offers:
{escape(", ".join(result.capabilities) or "documents only")}{_real_time(result)}</p>
<p id="verdict">{_badge(verdict)} {escape(result.summary())}</p>
<p>{counts}</p>
<table><thead><tr><th>test case</th><th>title</th><th>covers</th><th>verdict</th>
<th>findings</th></tr></thead><tbody>{rows}</tbody></table>
{body}
</body></html>
"""
