from __future__ import annotations

from datetime import UTC, datetime

from eessi.render.sequence import Arrow, mermaid, participants_of, plantuml, text

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ARROWS = [
    Arrow("FR:CPAM5701", "LU:CNS00001", "S071", "LU-1", "processed", AT),
    Arrow("LU:CNS00001", "FR:CPAM5701", "S072", "LU-1", "acknowledged", AT),
    Arrow("LU:CNS00001", "DE:TKK00001", "S040", "LU-2", "failed", AT),
]


def test_terminal_diagram_has_lifelines_labels_and_arrow_directions() -> None:
    out = text(ARROWS, ["LU:CNS00001", "FR:CPAM5701", "DE:TKK00001"], unicode=False)
    lines = out.splitlines()
    assert lines[0].split() == ["LU:CNS00001", "FR:CPAM5701", "DE:TKK00001"]
    assert "S071 LU-1 processed" in lines[2]
    assert lines[2].startswith("2026-03-02 09:00:00")
    assert "<---" in lines[3]
    assert ">" not in lines[3]
    assert "--->" in lines[5]
    assert lines[7].rstrip().endswith("x|")  # the failed S040 is drawn lost
    cns = lines[0].index("LU:CNS00001") + len("LU:CNS00001") // 2
    assert all(line[cns] == "|" for line in lines[1:] if len(line) > cns)


def test_labels_are_cut_to_fit_the_width() -> None:
    long = [Arrow("A:AAAA", "B:BBBB", "S072", "LU-" + "9" * 80, "processed")]
    out = text(long, width=60)
    assert max(len(line) for line in out.splitlines()) <= 60
    assert "…" in out


def test_mermaid_and_plantuml_name_participants_and_mark_failures() -> None:
    m = mermaid(ARROWS)
    assert m.splitlines()[:2] == ["sequenceDiagram", "    participant P1 as FR:CPAM5701"]
    assert "    P1->>P2: S071 LU-1 processed" in m
    assert "    P2-xP3: S040 LU-2 failed" in m
    p = plantuml(ARROWS)
    assert p.startswith("@startuml\n")
    assert p.endswith("@enduml\n")
    assert 'participant "LU:CNS00001" as P2' in p
    assert "P2 ->x P3 : S040 LU-2 failed" in p


def test_participants_order_prefers_the_given_ones() -> None:
    assert participants_of(ARROWS, ["DE:TKK00001"]) == ["DE:TKK00001", "FR:CPAM5701", "LU:CNS00001"]
    assert text([]) == "(no messages)\n"
