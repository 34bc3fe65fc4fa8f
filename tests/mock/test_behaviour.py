"""The behaviour model: parsing rules as data, precedence, per-case state, determinism."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eessi.errors import ConfigError
from eessi.mock.behaviour import (
    Answer,
    Behaviours,
    Close,
    Delay,
    Duplicate,
    Fail,
    Malformed,
    Match,
    Refuse,
    Silent,
    Trigger,
    WrongVersion,
    effect_to_dict,
    parse_rule,
    parse_rules,
)

FR = "FR:CPAM5701"


def rule(data: dict[str, Any], rid: str | None = None) -> Any:
    if rid is not None:
        data = {"id": rid, **data}
    return parse_rule(data, default_id="r")


def t(
    case: str = "LU-1", sed: str = "S040", buc: str = "S_BUC_24", mid: str | None = None
) -> Trigger:
    return Trigger(fund=FR, case=case, sed=sed, buc=buc, message_id=mid)


# ---- parsing


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        ("silent", Silent()),
        ("close", Close()),
        ({"kind": "answer", "overrides": {"reply": "03"}}, Answer({"reply": "03"})),
        ({"kind": "delay", "seconds": 3600}, Delay(seconds=3600.0)),
        ({"kind": "delay", "min": 60, "max": 600}, Delay(min=60.0, max=600.0)),
        ({"kind": "refuse", "x011": "04"}, Refuse(x011="04")),
        ({"kind": "refuse", "code": "03"}, Refuse(code="03")),
        ({"kind": "duplicate"}, Duplicate(2)),
        ({"kind": "malformed", "malformed": "not-xml"}, Malformed("not-xml")),
        ({"kind": "wrong_version", "version": "4.3"}, WrongVersion("4.3")),
        ({"kind": "fail", "times": 2, "mode": "reset"}, Fail(2, "reset")),
        ({"kind": "fail", "mode": "timeout", "seconds": 3}, Fail(1, "timeout", 3.0)),
    ],
)
def test_every_effect_parses_and_prints_back_to_the_same_data(effect: Any, expected: Any) -> None:
    r = rule({"match": {"sed": "S040"}, "effect": effect})
    assert r.effect == expected
    assert rule({"match": {"sed": "S040"}, "effect": effect_to_dict(r.effect)}).effect == expected


def test_a_rule_round_trips_through_its_dict_form() -> None:
    r = rule(
        {"match": {"buc": "S_BUC_01", "sed": "S072", "case": "LU-9", "nth": 2}, "effect": "silent"},
        "quiet",
    )
    listed = r.to_dict()
    assert (listed.pop("origin"), listed.pop("added_at")) == ("api", None)
    again = parse_rule(listed)
    assert again == r


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"match": {}, "effect": "shout"}, "effect.kind"),
        ({"match": {"sed": "S999"}, "effect": "silent"}, "match.sed"),
        ({"match": {"buc": "S_BUC_99"}, "effect": "silent"}, "match.buc"),
        ({"match": {"nth": 0}, "effect": "silent"}, "match.nth"),
        ({"match": {"colour": "red"}, "effect": "silent"}, "match.colour"),
        ({"match": {}}, "effect"),
        ({"match": {}, "effect": {"kind": "delay"}}, "effect.seconds"),
        ({"match": {}, "effect": {"kind": "delay", "min": 9, "max": 1}}, "effect.min"),
        ({"match": {}, "effect": {"kind": "delay", "seconds": -1}}, "effect.seconds"),
        ({"match": {}, "effect": {"kind": "refuse"}}, "effect.x011"),
        ({"match": {}, "effect": {"kind": "refuse", "x011": "04", "code": "01"}}, "effect.x011"),
        ({"match": {}, "effect": {"kind": "fail", "mode": "explode"}}, "effect.mode"),
        ({"match": {}, "effect": {"kind": "fail", "seconds": 3}}, "effect.seconds"),
        ({"match": {}, "effect": {"kind": "malformed", "malformed": "ugly"}}, "effect.malformed"),
        ({"match": {}, "effect": {"kind": "duplicate", "times": 1}}, "effect.times"),
        ({"match": {}, "effect": {"kind": "silent", "seconds": 3}}, "effect.seconds"),
        ({"match": {}, "effect": "silent", "when": "now"}, "when"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules([data], where="fr.toml")
    assert info.value.code == "mock.bad-rule"
    assert info.value.where == f"fr.toml: rule #1, key {key!r}"


# ---- precedence


def test_no_rule_means_answer_by_the_buc_rules() -> None:
    reaction = Behaviours(FR).on_document(t())
    assert reaction.effect == Answer()
    assert reaction.rule is None


def test_precedence_case_beats_sed_beats_buc_beats_fund_default() -> None:
    book = Behaviours(
        FR,
        [
            rule({"match": {"case": "LU-1"}, "effect": "close"}, "by-case"),
            rule({"match": {"sed": "S040"}, "effect": "silent"}, "by-sed"),
            rule(
                {"match": {"buc": "S_BUC_24"}, "effect": {"kind": "refuse", "code": "03"}}, "by-buc"
            ),
            rule({"match": {}, "effect": {"kind": "delay", "seconds": 5}}, "default"),
        ],
    )
    assert book.on_document(t(case="LU-1")).rule == "by-case"
    assert book.on_document(t(case="LU-2")).rule == "by-sed"
    assert book.on_document(t(case="LU-2", sed="X009")).rule == "by-buc"
    assert book.on_document(t(case="LU-2", sed="S072", buc="S_BUC_01")).rule == "default"


def test_precedence_person_and_xpath_rank_with_case_above_sed_then_counterparty() -> None:
    s040 = b"<s:S040 xmlns:s='http://ec.europa.eu/eessi/ns/4_4/S040'><Person/></s:S040>"
    book = Behaviours(
        FR,
        [
            rule({"match": {"case": "LU-1"}, "effect": "close"}, "by-case"),
            rule({"match": {"person": "julia"}, "effect": "silent"}, "by-person"),
            rule({"match": {"xpath": "/sed:S040/Person"}, "effect": "close"}, "by-xpath"),
            rule({"match": {"sed": "S040"}, "effect": "silent"}, "by-sed"),
            rule({"match": {"counterparty": "LU:CNS00001"}, "effect": "close"}, "by-peer"),
        ],
    )

    def pick(case: str, persons: frozenset[str], document: bytes | None, peer: str) -> Any:
        trigger = Trigger(FR, case, "S040", "S_BUC_24", None, peer, persons, document)
        return book.on_document(trigger).rule

    none: frozenset[str] = frozenset()
    # case, person, XPath: equally specific; the last added among them wins
    assert pick("LU-1", frozenset({"julia"}), s040, "LU:CNS00001") == "by-xpath"
    assert pick("LU-1", frozenset({"julia"}), None, "LU:CNS00001") == "by-person"
    assert pick("LU-1", none, None, "LU:CNS00001") == "by-case"
    assert pick("LU-2", none, None, "LU:CNS00001") == "by-sed"  # SED beats counterparty
    assert pick("LU-2", none, b"<not-xml", "LU:CNS00001") == "by-sed"
    # two of them (case and person) beat one
    book.add(rule({"match": {"person": "julia", "case": "LU-1"}, "effect": "close"}, "both"))
    book.add(rule({"match": {"person": "julia"}, "effect": "silent"}, "by-person"))
    assert pick("LU-1", frozenset({"julia"}), s040, "LU:CNS00001") == "both"
    assert Match(counterparty="X").specificity > Match(nth=1).specificity
    assert Match(sed="S040").specificity > Match(counterparty="X", buc="S_BUC_24").specificity


def test_among_equally_specific_rules_the_last_added_wins() -> None:
    book = Behaviours(FR, [rule({"match": {"sed": "S040"}, "effect": "silent"}, "profile")])
    book.add(rule({"match": {"sed": "S040"}, "effect": "close"}, "runtime"))
    assert book.on_document(t()).effect == Close()
    book.remove("runtime")
    assert book.on_document(t()).effect == Silent()


def test_nth_applies_only_to_that_occurrence_in_the_case_and_counts_each_message_once() -> None:
    book = Behaviours(
        FR, [rule({"match": {"sed": "S040", "nth": 2}, "effect": "silent"}, "second")]
    )
    assert book.on_document(t(mid="m1")).effect == Answer()
    assert book.on_document(t(mid="m1")).effect == Answer()  # a redelivery is not a second one
    second = book.on_document(t(mid="m2"))
    assert (second.effect, second.occurrence) == (Silent(), 2)
    assert book.on_document(t(mid="m3")).effect == Answer()
    assert book.on_document(t(case="LU-2", mid="m4")).effect == Answer()  # another case: 1st


def test_the_fund_of_a_match_restricts_it_to_that_fund() -> None:
    book = Behaviours(FR, [rule({"match": {"fund": "BE:MC000200"}, "effect": "silent"})])
    assert book.on_document(t()).effect == Answer()


# ---- per-case state


def test_fail_n_times_then_recover_counts_per_case() -> None:
    book = Behaviours(FR, [rule({"match": {}, "effect": {"kind": "fail", "times": 2}}, "flaky")])
    attempts = [book.on_attempt(t(case="LU-1")) for _ in range(3)]
    assert [a.effect is not None for a in attempts] == [True, True, False]
    assert [a.number for a in attempts] == [1, 2, 0]
    assert book.on_attempt(t(case="LU-2")).effect == Fail(2, "http500")  # its own counter
    assert book.state("LU-1")["failures"] == {"flaky": 2}


def test_attempts_that_go_through_leave_no_case_state_behind() -> None:
    book = Behaviours(FR, [rule({"match": {"case": "LU-9"}, "effect": "silent"}, "quiet")])
    assert not book.may_fail
    assert [book.on_attempt(t(case=f"LU-{i}")).effect for i in range(3)] == [None] * 3
    assert book.cases() == ("LU-9",)  # the rule's case only: nothing per delivered case
    book.add(rule({"match": {"case": "LU-1"}, "effect": {"kind": "fail", "times": 1}}, "f"))
    assert book.may_fail
    assert book.on_attempt(t(case="LU-1")).effect == Fail(1, "http500")
    assert book.on_attempt(t(case="LU-2")).effect is None
    assert book.cases() == ("LU-1", "LU-9")
    assert book.state("LU-1")["failures"] == {"f": 1}


def test_a_recovered_case_specific_failure_falls_back_to_a_general_one() -> None:
    book = Behaviours(
        FR,
        [
            rule({"match": {}, "effect": {"kind": "fail", "times": 1, "mode": "reset"}}, "all"),
            rule({"match": {"case": "LU-1"}, "effect": {"kind": "fail", "times": 1}}, "one"),
        ],
    )
    modes = [book.on_attempt(t(case="LU-1")).effect for _ in range(3)]
    assert modes == [Fail(1, "http500"), Fail(1, "reset"), None]


def test_fail_rules_do_not_decide_the_answer_and_answer_rules_do_not_fail_attempts() -> None:
    book = Behaviours(
        FR,
        [
            rule({"match": {}, "effect": {"kind": "fail", "times": 1}}),
            rule({"match": {}, "effect": "silent"}, "quiet"),
        ],
    )
    assert book.on_document(t()).effect == Silent()
    assert book.on_attempt(t()).effect == Fail(1, "http500")


def test_reset_case_forgets_its_rules_and_counters_but_not_other_cases() -> None:
    book = Behaviours(FR)
    book.add(rule({"match": {"case": "LU-1"}, "effect": {"kind": "fail", "times": 1}}, "a"))
    book.add(rule({"match": {"case": "LU-2"}, "effect": "silent"}, "b"))
    book.on_document(t(case="LU-1", mid="x"))
    book.reset_case("LU-1")
    assert [r.id for r in book.rules] == ["b"]
    assert book.state("LU-1") == {"case": "LU-1", "seen": {}, "failures": {}}
    assert book.on_document(t(case="LU-2")).effect == Silent()


def test_reset_goes_back_to_the_profile_rules() -> None:
    book = Behaviours(FR, [rule({"match": {"sed": "S040"}, "effect": "silent"}, "profile")])
    book.add(rule({"match": {}, "effect": "close"}, "runtime"))
    book.on_document(t())
    book.reset()
    assert [r.id for r in book.rules] == ["profile"]
    assert book.state("LU-1")["seen"] == {}


def test_adding_a_rule_with_an_existing_id_replaces_it() -> None:
    book = Behaviours(FR)
    book.add(rule({"match": {}, "effect": "silent"}, "x"))
    book.add(rule({"match": {}, "effect": "close"}, "x"))
    assert [r.effect for r in book.rules] == [Close()]


# ---- determinism


def test_random_delays_are_reproducible_with_the_same_seed_and_within_bounds() -> None:
    def draws(seed: int) -> list[float]:
        book = Behaviours(
            FR,
            [rule({"match": {}, "effect": {"kind": "delay", "min": 60, "max": 600}})],
            rng=random.Random(seed),
        )
        return [book.on_document(t(case=f"LU-{i}")).delay for i in range(5)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert all(60 <= d <= 600 for d in draws(7))


def test_after_a_reset_the_random_delays_and_new_rule_ids_are_those_of_a_fresh_book() -> None:
    def fresh() -> Behaviours:
        delay = rule({"match": {}, "effect": {"kind": "delay", "min": 60, "max": 600}}, "p")
        return Behaviours(FR, [delay], rng=random.Random(7))

    def run(book: Behaviours) -> tuple[list[float], list[str]]:
        delays = [book.on_document(t(case=f"LU-{i}")).delay for i in range(3)]
        return delays, [book.next_id(), book.next_id()]

    book = fresh()
    first = run(book)
    book.reset()  # POST /api/mock/reset, or the network's POST /api/reset
    assert run(book) == first == run(fresh())
    assert first[1] == ["rule-1", "rule-2"]


def test_a_fixed_delay_is_exact() -> None:
    book = Behaviours(FR, [rule({"match": {}, "effect": {"kind": "delay", "seconds": 90}})])
    assert book.on_document(t()).delay == 90.0


def test_a_rule_without_id_gets_a_stable_id_from_its_content() -> None:
    a = parse_rule({"match": {"sed": "S072"}, "effect": "silent"})
    b = parse_rule({"match": {"sed": "S072"}, "effect": "silent"})
    c = parse_rule({"match": {"sed": "S073"}, "effect": "silent"})
    assert a.id == b.id
    assert a.id != c.id
    assert a.id.startswith("silent-")


# ---- precedence, for any set of rules

_CASES = ("LU-1", "LU-2")
_SEDS = ("S040", "S072")
_BUCS = ("S_BUC_01", "S_BUC_24")
_matches = st.fixed_dictionaries(
    {},
    optional={
        "case": st.sampled_from(_CASES),
        "sed": st.sampled_from(_SEDS),
        "buc": st.sampled_from(_BUCS),
        "nth": st.integers(1, 2),
    },
)


@given(
    matches=st.lists(_matches, max_size=8),
    trigger=st.tuples(st.sampled_from(_CASES), st.sampled_from(_SEDS), st.sampled_from(_BUCS)),
    occurrences=st.integers(1, 2),
)
def test_the_chosen_rule_is_the_most_specific_match_and_the_latest_among_equals(
    matches: list[dict[str, Any]], trigger: tuple[str, str, str], occurrences: int
) -> None:
    book = Behaviours(FR)
    for i, m in enumerate(matches):
        book.add(parse_rule({"id": f"r{i}", "match": m, "effect": "silent"}))
    case, sed, buc = trigger
    reaction = None
    for n in range(occurrences):
        reaction = book.on_document(Trigger(FR, case, sed, buc, f"m{n}"))
    assert reaction is not None
    candidates = [
        (i, r)
        for i, r in enumerate(book.rules)
        if r.match.matches(Trigger(FR, case, sed, buc), occurrences)
    ]
    if not candidates:
        assert reaction.rule is None
        return
    best = max(r.match.specificity for _, r in candidates)
    latest = max(i for i, r in candidates if r.match.specificity == best)
    assert reaction.rule == f"r{latest}"


def test_what_the_rules_ask_of_every_message_follows_each_change_of_the_rules() -> None:
    """D404: whether a fail rule is in the book (each delivery asks) and whether a rule reads
    persons or documents (each answer asks) are kept, and follow add, remove, reset_case and
    reset."""
    book = Behaviours(FR, [rule({"match": {"person": "julia"}, "effect": "silent"}, "p")])
    assert (book.may_fail, book.reads_documents) == (False, True)
    book.add(rule({"match": {"case": "LU-1"}, "effect": {"kind": "fail", "times": 1}}, "f"))
    assert book.may_fail
    book.add(rule({"match": {"xpath": "/sed:S040/Person"}, "effect": "close"}, "x"))
    book.remove("p")
    assert book.reads_documents
    book.reset_case("LU-1")
    assert not book.may_fail
    book.remove("x")
    assert (book.may_fail, book.reads_documents) == (False, False)
    book.add(rule({"match": {"case": "LU-2"}, "effect": {"kind": "fail", "times": 1}}, "g"))
    book.reset()
    assert (book.may_fail, book.reads_documents) == (False, True)
