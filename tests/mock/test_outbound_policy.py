"""The outbound policy on its own: which rule a SED meets, and what travels instead."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from eessi.core.messages import Outgoing
from eessi.mock.behaviour import Behaviours, parse_rule
from eessi.mock.interceptors import MockOutbound
from eessi.node.hooks import OutboundSed
from eessi.sed.examples import example
from eessi.sed.validate import validate_or_raise

FR = "FR:CPAM5701"
CASE = "LU-00000000000A"
S072_ID = "0f3c2a1e-8b7d-4c6e-9a5f-1d2e3f4a5b6c"


class Log:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def record(self, fund: str, what: str, **data: Any) -> None:
        self.items.append({"what": what, **data})

    def delivered(self, fund: str) -> None:
        pass


def policy(*rules: dict[str, Any]) -> tuple[MockOutbound, Log]:
    book = Behaviours(FR, [parse_rule(r) for r in rules])
    log = Log()
    known = {(CASE, S072_ID): "S072"}
    return MockOutbound(FR, book, lambda c, d: known.get((c, d)), log), log


def s073_out(answers: str | None = S072_ID) -> tuple[OutboundSed, Outgoing]:
    doc = example("S073", seed=5)
    out = Outgoing(
        "LU:CNS00001", CASE, "S_BUC_01", doc, "1b2c3d4e-0000-4000-8000-000000000001", answers
    )
    sed = OutboundSed(
        receiver=out.receiver,
        case_id=CASE,
        buc="S_BUC_01",
        sed_type="S073",
        sed_version=doc.version,
        message_id=out.document_id,
        ref_to_message_id=answers,
        payload=doc.to_xml(),
    )
    return sed, out


def test_without_rules_the_sed_travels_unchanged_and_the_reaction_is_logged() -> None:
    p, log = policy()
    sed, out = s073_out()
    assert p.outbound(sed, out) is sed
    assert log.items[-1] == {
        "what": "send",
        "case": CASE,
        "reacting_to": "S072",
        "desk_sed": "S073",
        "sent": "S073",
        "effect": "answer",
        "rule": None,
        "delay": 0.0,
        "copies": 1,
    }


def test_refuse_with_x011_replaces_the_answer_by_a_rejection_of_the_answered_sed() -> None:
    p, _ = policy({"match": {"sed": "S072"}, "effect": {"kind": "refuse", "x011": "03"}})
    sed, out = s073_out()
    sent = p.outbound(sed, out)
    assert sent.sed_type == "X011"
    assert S072_ID.encode() in sent.payload
    validate_or_raise(sent.payload)


def test_a_refusal_needs_something_to_reject() -> None:
    p, _ = policy({"match": {"sed": "S073"}, "effect": {"kind": "refuse", "x011": "04"}})
    sed, out = s073_out(answers=None)  # an S073 answering nothing: matched by its own type
    assert p.outbound(sed, out) is sed


@pytest.mark.parametrize(
    ("effect", "check"),
    [
        ("silent", lambda s: s is None),
        ({"kind": "duplicate", "times": 3}, lambda s: s.copies == 3),
        ({"kind": "delay", "seconds": 60}, lambda s: s.delay == 60),
        ("close", lambda s: s.sed_type == "X001"),
        ({"kind": "wrong_version", "version": "4.3"}, lambda s: s.sed_version == "4.3"),
        ({"kind": "malformed", "malformed": "not-xml"}, lambda s: not s.payload.startswith(b"<")),
        ({"kind": "refuse", "code": "01"}, lambda s: b"registrationConfirmed" in s.payload),
    ],
)
def test_each_effect_changes_what_travels(effect: Any, check: Any) -> None:
    p, log = policy({"match": {"sed": "S072"}, "effect": effect})
    sed, out = s073_out()
    assert check(p.outbound(sed, out))
    assert log.items[-1]["rule"] is not None


def test_a_changed_answer_is_written_in_the_version_the_node_chose_for_the_receiver() -> None:
    p, _ = policy(
        {"match": {"sed": "S072"}, "effect": {"kind": "answer", "overrides": {"registered": False}}}
    )
    sed, out = s073_out()
    assert out.sed.version == "4.4"
    downgraded = replace(sed, sed_version="4.3")  # the receiver accepts 4.3 only
    sent = p.outbound(downgraded, out)
    assert b"/ns/4_3/S073" in sent.payload
    assert validate_or_raise(sent.payload).version == "4.3"
