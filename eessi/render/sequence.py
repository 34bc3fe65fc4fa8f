"""Sequence diagrams of an exchange: terminal text, Mermaid and PlantUML, from one model.

One :class:`Arrow` per message (sender, receiver, SED type, case, status, time) and the
participants in the order their lifelines should appear. The three renderers share that model,
so ``eessi trace show``, ``--mermaid``, ``--plantuml`` and the demo draw the same picture.

The terminal form puts a time gutter on the left and one lifeline per institution; each
message takes two lines, its label (``S072 LU-1A2B… processed``) above the arrow. Labels
are cut to fit between the lifelines rather than widening the diagram past ``width``. Pass
``unicode=False`` for plain ASCII (logs, old terminals).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "FAILED_STATUSES",
    "Arrow",
    "mermaid",
    "participants_of",
    "plantuml",
    "text",
]

#: Statuses drawn as a lost / refused message (a cross at the head).
FAILED_STATUSES = frozenset({"failed", "refused", "rejected"})


@dataclass(frozen=True, slots=True)
class Arrow:
    """One message of the diagram."""

    sender: str
    receiver: str
    #: SED type (``"S071"``), the main part of the label.
    sed: str
    case: str = ""
    status: str = ""
    at: datetime | None = None
    #: Anything else worth a word (a version, a divergence mark).
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def label(self) -> str:
        return " ".join(p for p in (self.sed, self.case, self.status, self.note) if p)


def participants_of(arrows: Iterable[Arrow], preferred: Sequence[str] = ()) -> list[str]:
    """Everyone who sends or receives, ``preferred`` ones first (in that order)."""
    seen: list[str] = []
    for a in arrows:
        for p in (a.sender, a.receiver):
            if p not in seen:
                seen.append(p)
    first = [p for p in preferred if p in seen]
    return first + [p for p in seen if p not in first]


# --------------------------------------------------------------------------- terminal


@dataclass(frozen=True, slots=True)
class _Glyphs:
    line: str
    dash: str
    right: str
    left: str
    cross: str
    ellipsis: str


_UNICODE = _Glyphs("│", "─", "▶", "◀", "✕", "…")
_ASCII = _Glyphs("|", "-", ">", "<", "x", "~")


def _cut(text: str, width: int, g: _Glyphs) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + g.ellipsis


def _time(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def text(
    arrows: Sequence[Arrow],
    participants: Sequence[str] | None = None,
    *,
    width: int = 120,
    unicode: bool = True,
    times: bool = True,
) -> str:
    """The diagram as lines of text (no colours), ending with a newline."""
    g = _UNICODE if unicode else _ASCII
    people = list(participants) if participants is not None else participants_of(arrows)
    if not people:
        return "(no messages)\n"
    gutter = 21 if times and any(a.at is not None for a in arrows) else 0
    name_w = max(len(p) for p in people)
    label_w = max((len(a.label()) for a in arrows), default=0)
    gap = max(name_w + 2, label_w + 6, 12)
    if len(people) > 1:
        gap = min(gap, max(name_w + 2, (width - gutter - name_w) // (len(people) - 1)))
    first = gutter + name_w // 2
    cols = [first + i * gap for i in range(len(people))]
    total = cols[-1] + max(name_w // 2 + 2, 2)
    index = {p: i for i, p in enumerate(people)}

    def blank() -> list[str]:
        row = [" "] * total
        for c in cols:
            row[c] = g.line
        return row

    def put(row: list[str], start: int, s: str) -> None:
        for i, ch in enumerate(s):
            if 0 <= start + i < len(row):
                row[start + i] = ch

    lines: list[str] = []
    header = [" "] * total
    for p, c in zip(people, cols, strict=True):
        put(header, max(0, c - len(p) // 2), p)
    lines.append("".join(header).rstrip())
    lines.append("".join(blank()).rstrip())
    for a in arrows:
        s, r = cols[index[a.sender]], cols[index[a.receiver]]
        lo, hi = min(s, r), max(s, r)
        label_row = blank()
        arrow_row = blank()
        if times and gutter:
            put(label_row, 0, _time(a.at))
        if lo == hi:  # to itself: a small loop to the right
            put(label_row, lo + 2, _cut(a.label(), total - lo - 2, g))
            put(arrow_row, lo, g.line + g.dash * 2 + (g.cross if a.failed else g.left))
        else:
            put(label_row, lo + 2, _cut(a.label(), hi - lo - 3, g))
            shaft = [g.dash] * (hi - lo - 1)
            head = g.cross if a.failed else (g.right if r > s else g.left)
            if r > s:
                shaft[-1] = head
            else:
                shaft[0] = head
            put(arrow_row, lo + 1, "".join(shaft))
        lines.append("".join(label_row).rstrip())
        lines.append("".join(arrow_row).rstrip())
    lines.append("".join(blank()).rstrip())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Mermaid


def _alias(i: int) -> str:
    return f"P{i + 1}"


def _clean(label: str, forbidden: str) -> str:
    return "".join(" " if ch in forbidden else ch for ch in label).strip()


def mermaid(arrows: Sequence[Arrow], participants: Sequence[str] | None = None) -> str:
    """A Mermaid ``sequenceDiagram`` (participants aliased ``P1``... and named by IR ID)."""
    people = list(participants) if participants is not None else participants_of(arrows)
    alias = {p: _alias(i) for i, p in enumerate(people)}
    out = ["sequenceDiagram"]
    out += [f"    participant {alias[p]} as {_clean(p, ';#')}" for p in people]
    for a in arrows:
        kind = "-x" if a.failed else "->>"
        out.append(f"    {alias[a.sender]}{kind}{alias[a.receiver]}: {_clean(a.label(), ';#:')}")
    return "\n".join(out) + "\n"


def plantuml(arrows: Sequence[Arrow], participants: Sequence[str] | None = None) -> str:
    """A PlantUML sequence diagram (``@startuml`` ... ``@enduml``)."""
    people = list(participants) if participants is not None else participants_of(arrows)
    alias = {p: _alias(i) for i, p in enumerate(people)}
    out = ["@startuml"]
    out += [f'participant "{_clean(p, chr(34))}" as {alias[p]}' for p in people]
    for a in arrows:
        kind = "->x" if a.failed else "->"
        out.append(f"{alias[a.sender]} {kind} {alias[a.receiver]} : {_clean(a.label(), '')}")
    out.append("@enduml")
    return "\n".join(out) + "\n"
