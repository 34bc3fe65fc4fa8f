"""The decision the CNS answers an S071 with, taken in the same evaluation as the pending one
(R14, R17; D410): it must be exactly what ``decide`` gives with the S072 and S073 added."""

from __future__ import annotations

from datetime import date

import pytest
from household_builders import ON, child, fact, facts, household, main, partner, request, spouse

from eessi.core.eligibility import Action, Outcome, decide, decide_answering
from eessi.core.facts import DocumentKind as D
from eessi.core.facts import Facts
from eessi.core.household import FamilyMember, Household

PT_FUND = "PT:ISS00001"
FR_FUND = "FR:CPAM5701"


def _cases() -> list[tuple[str, Household, str, Facts]]:
    lu_end = main(since=date(2024, 5, 1), end=date(2027, 6, 30))
    cross = main(country="FR", since=date(2021, 10, 1))
    kid_fr = child(country_of_residence="FR", rnpp_registered=False, lives_with=("marc",))
    return [
        (
            "R17 spouse in PT",
            household(spouse(country_of_residence="PT", relation_since=date(2012, 6, 1))),
            "eva",
            facts(fact(D.S071, "eva", institution=PT_FUND, on=date(2026, 2, 1))),
        ),
        (
            "R17 affiliation ending, arrival after",
            household(spouse(country_of_residence="PT"), mains=(lu_end,)),
            "eva",
            facts(request("eva"), fact(D.S071, "eva", institution=PT_FUND)),
        ),
        (
            "R17 S071 from another country's fund ignored, then the right one",
            household(partner(country_of_residence="PT", partnership_registered_in="PT")),
            "alex",
            facts(fact(D.S071, "alex", institution=FR_FUND), fact(D.S071, institution=PT_FUND)),
        ),
        (
            "R14 cross-border spouse in the RNPP",
            household(spouse(country_of_residence="FR"), mains=(cross,)),
            "eva",
            facts(fact(D.S071, "eva", institution=FR_FUND)),
        ),
        (
            "R15 then R14 child not in the RNPP with its documents",
            household(kid_fr, mains=(cross,)),
            "lea",
            facts(
                fact(D.S071, "lea", institution=FR_FUND),
                fact(D.BIRTH_CERTIFICATE, "lea"),
                fact(D.HOUSEHOLD_COMPOSITION, "lea"),
            ),
        ),
    ]


@pytest.mark.parametrize(("label", "home", "member", "known"), _cases(), ids=lambda v: v)
def test_R14_R17_the_answer_decided_with_the_pending_decision_is_decides_own(
    label: str, home: Household, member: str, known: Facts
) -> None:
    pending, answer = decide_answering(home, member, on=ON, facts=known)
    assert pending == decide(home, member, on=ON, facts=known)
    assert [m.action for m in pending.missing] == [Action.SEND_S072], label
    exchanged = known.with_(fact(D.S072, member, on=ON), fact(D.S073, member, on=ON))
    expected = decide(home, member, on=ON, facts=exchanged)
    assert expected.outcome is Outcome.ELIGIBLE
    assert answer == expected
    assert answer.rules[-1] in ("R14", "R17")


@pytest.mark.parametrize(
    ("home", "member", "known"),
    [
        # waits for the S073 of an S072 already sent: nothing to answer
        (
            household(spouse(country_of_residence="PT")),
            "eva",
            facts(fact(D.S071, "eva", institution=PT_FUND), fact(D.S072, "eva")),
        ),
        # no S071 yet (R17): pending on the fund of residence
        (household(spouse(country_of_residence="PT")), "eva", facts(request("eva"))),
        # R15 documents missing before the S072 (R14 path)
        (
            household(
                child(country_of_residence="FR", rnpp_registered=False),
                mains=(main(country="FR"),),
            ),
            "lea",
            facts(fact(D.S071, "lea", institution=FR_FUND)),
        ),
        # eligible already, and refused (R17: insured where the member lives)
        (
            household(spouse(country_of_residence="PT")),
            "eva",
            facts(fact(D.S071, "eva"), fact(D.S072, "eva"), fact(D.S073, "eva")),
        ),
        (
            household(spouse(country_of_residence="PT", insured_in_country_of_residence=True)),
            "eva",
            facts(fact(D.S071, "eva", institution=PT_FUND)),
        ),
    ],
)
def test_R14_R17_no_answer_unless_only_the_S072_is_missing(
    home: Household, member: str, known: Facts
) -> None:
    decision, answer = decide_answering(home, member, on=ON, facts=known)
    assert decision == decide(home, member, on=ON, facts=known)
    assert answer is None


def test_R17_each_member_of_a_household_is_answered_on_its_own_facts() -> None:
    members: tuple[FamilyMember, ...] = (
        spouse(country_of_residence="PT"),
        child(country_of_residence="PT", lives_with=("marc",)),
    )
    home = household(*members)
    known = facts(fact(D.S071, "eva", institution=PT_FUND), fact(D.S071, "lea"))
    for m in members:
        _, answer = decide_answering(home, m.id, on=ON, facts=known)
        exchanged = known.with_(fact(D.S072, m.id), fact(D.S073, m.id))
        assert answer == decide(home, m.id, on=ON, facts=exchanged)
