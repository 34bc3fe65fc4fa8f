"""Funds outside EESSI answer the CNS's requests for documents (R6 104, R7 declaration on
honour), and the CNS stops waiting for them."""

from __future__ import annotations

from pathlib import Path

from eessi.core.facts import DocumentKind
from eessi.core.messages import (
    CoInsuranceRequested,
    DecisionMade,
    DocumentsRequested,
    MemberRef,
)
from eessi.mock.outside import answer_requests
from eessi.mock.profiles import load_default_profiles

from .kit import CNS, world

CLAIRE = "1990020212345"  # Claire Dupont; her adopted son Caio arrives from Brazil (R7)
MILAN = "1983100312345"  # Milan Petrović; his wife Amina was insured in Serbia (bilateral)


async def test_R7_the_declaration_on_honour_comes_back_and_the_CNS_stops_asking(
    tmp_path: Path,
) -> None:
    brazil = load_default_profiles()["BR:NOAGRMT1"]
    async with world(tmp_path, ids=(CNS,)) as w:
        step = await w[CNS].submit(CoInsuranceRequested(CLAIRE, "caio"))
        requests = step.of(DocumentsRequested)
        assert any(r.rule == "R7" for r in requests)

        def pin(household: str) -> str:
            return str(w[CNS].desk.registry.entry(household).household.main_insured[0].pin)

        answers = [a for r in requests for a in answer_requests(brazil, r, pin)]
        assert [(a.main_insured_pin, a.member, a.kind) for a in answers] == [
            (CLAIRE, "caio", DocumentKind.DECLARATION_ON_HONOUR)
        ]  # the R15 civil-status documents are not the Brazilian side's to give
        (after,) = (await w[CNS].submit(answers[0])).of(DecisionMade)
        missing = {m.kind for m in after.decision.missing}
        assert DocumentKind.DECLARATION_ON_HONOUR not in missing
        assert missing  # R15 documents still missing


async def test_R6_the_bilateral_fund_provides_its_104_form(tmp_path: Path) -> None:
    serbia = load_default_profiles()["RS:RFZO0001"]
    async with world(tmp_path, ids=(CNS,)) as w:
        step = await w[CNS].submit(CoInsuranceRequested(MILAN, "amina"))
        (request,) = [r for r in step.of(DocumentsRequested) if r.rule == "R6"]
        (answer,) = answer_requests(serbia, request, lambda _h: MILAN)
        assert answer.kind is DocumentKind.BILATERAL_104
        (after,) = (await w[CNS].submit(answer)).of(DecisionMade)
        assert DocumentKind.BILATERAL_104 not in {m.kind for m in after.decision.missing}


def test_a_fund_in_EESSI_provides_nothing_outside_it() -> None:
    cpam = load_default_profiles()["FR:CPAM5701"]
    request = DocumentsRequested(
        MemberRef("h", "m"), (DocumentKind.BILATERAL_104,), "R6", "main_insured"
    )
    assert answer_requests(cpam, request, lambda _h: "1") == ()
