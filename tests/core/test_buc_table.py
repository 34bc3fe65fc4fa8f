"""The transition tables themselves: shape, mirroring between roles, catalogue gating."""

from __future__ import annotations

import itertools

import pytest

from eessi.core.buc_table import (
    HORIZONTAL_RULES,
    MAIN_FLOW,
    TRANSITIONS,
    CaseState,
    Direction,
    Step,
    allowed_steps,
    awaited_step,
    flow_path,
    in_effect_steps,
    rule_for,
)
from eessi.sed.catalogue import BUCS, SEDS, Role

BUC_NAMES = sorted(TRANSITIONS)
ROLES = list(Role)


def test_there_is_a_machine_for_each_simulated_buc_of_issue_3() -> None:
    assert set(TRANSITIONS) == {"S_BUC_01", "S_BUC_01A", "S_BUC_24"}
    assert set(MAIN_FLOW) == set(TRANSITIONS)


@pytest.mark.parametrize("buc", BUC_NAMES)
def test_counterparty_table_is_the_owner_table_mirrored(buc: str) -> None:
    owner = TRANSITIONS[buc][Role.CASE_OWNER]
    cp = TRANSITIONS[buc][Role.COUNTERPARTY]
    assert list(owner) == list(cp)
    for state, steps in owner.items():
        assert {s.mirror(): t for s, t in steps.items()} == dict(cp[state]), state


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("buc", BUC_NAMES)
def test_main_flow_follows_the_catalogue_and_the_owner_sends_the_starter(
    buc: str, role: Role
) -> None:
    path = flow_path(buc, role)
    assert [step.sed for _, step, _ in path] == list(BUCS[buc].flow)
    assert path[0][0] is CaseState.NEW
    assert path[-1][2] is CaseState.COMPLETED
    starter = path[0][1]
    expected = Direction.SEND if role is Role.CASE_OWNER else Direction.RECEIVE
    assert starter.direction is expected
    # Bilateral: the documents alternate between the two sides.
    directions = [step.direction for _, step, _ in path]
    assert all(a is not b for a, b in itertools.pairwise(directions))


def test_R17_S_BUC_01_runs_S071_S072_S073_with_the_residence_fund_as_owner() -> None:
    owner = [str(step) for _, step, _ in flow_path("S_BUC_01", Role.CASE_OWNER)]
    assert owner == ["send S071", "receive S072", "send S073"]
    states = [after for _, _, after in flow_path("S_BUC_01", Role.CASE_OWNER)]
    assert states == [
        CaseState.AWAITING_REPLY,
        CaseState.AWAITING_CONFIRMATION,
        CaseState.COMPLETED,
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("buc", BUC_NAMES)
def test_new_allows_only_the_starter_and_closed_allows_nothing(buc: str, role: Role) -> None:
    table = TRANSITIONS[buc][role]
    assert [s.sed for s in table[CaseState.NEW]] == [BUCS[buc].starter]
    assert table[CaseState.CLOSED] == {}
    assert allowed_steps(buc, role, CaseState.CLOSED) == ()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("buc", BUC_NAMES)
def test_every_state_but_new_can_be_closed_by_either_side(buc: str, role: Role) -> None:
    for state, steps in TRANSITIONS[buc][role].items():
        if state in (CaseState.NEW, CaseState.CLOSED):
            continue
        for d in Direction:
            assert steps[Step(d, "X001")] is CaseState.CLOSED, (state, d)


def _all_entries() -> list[tuple[str, Role, CaseState, Step, CaseState]]:
    return [
        (b, r, s, step, t)
        for b in BUC_NAMES
        for r in ROLES
        for s, steps in TRANSITIONS[b][r].items()
        for step, t in steps.items()
    ]


def test_horizontal_steps_respect_the_catalogue_flags_of_their_target() -> None:
    flags = {"X008": "can_invalidate", "X011": "has_reject", "X012": "has_clarify"}
    seen = set()
    for buc, role, state, step, _ in _all_entries():
        if step.sed in flags:
            assert step.about is not None
            assert getattr(SEDS[step.about], flags[step.sed]), (buc, role, state, step)
            seen.add(step.sed)
        if not SEDS[step.sed].horizontal:
            assert step.about is None
            assert buc in SEDS[step.sed].bucs
    assert seen == set(flags)


def test_X008_only_invalidates_a_document_of_the_same_sender() -> None:
    for buc, role, state, step, _ in _all_entries():
        if step.sed == "X008":
            own = {
                s.sed for s in in_effect_steps(buc, role, state) if s.direction is step.direction
            }
            assert step.about in own, (buc, role, state, step)


def test_X011_only_rejects_the_latest_received_document_or_a_reminder() -> None:
    for buc, role, state, step, _ in _all_entries():
        if step.sed == "X011" and step.about != "X009":
            latest = in_effect_steps(buc, role, state)[-1]
            assert latest.sed == step.about
            assert latest.direction is not step.direction


def test_X009_is_only_sent_by_the_side_waiting_for_a_reply() -> None:
    for buc, role, state, step, _ in _all_entries():
        if step.sed == "X009":
            awaited = awaited_step(buc, role, state)
            assert awaited is not None
            # The reminder travels against the awaited document.
            assert awaited.direction is step.direction.mirror(), (buc, role, state)


def test_only_undoing_and_closing_and_the_main_flow_change_state() -> None:
    for _, _, state, step, target in _all_entries():
        if target is not state:
            assert step.sed in {"X001", "X008", "X011"} or not SEDS[step.sed].horizontal


def test_every_step_of_a_horizontal_sed_falls_under_exactly_one_rule() -> None:
    for _, _, _, step, _ in _all_entries():
        if SEDS[step.sed].horizontal:
            rule = rule_for(step)
            assert rule is not None
            assert rule.sed == step.sed
        else:
            assert rule_for(step) is None
    assert {r.sed for r in HORIZONTAL_RULES} == {c for c, t in SEDS.items() if t.horizontal}


def test_a_new_version_is_allowed_only_for_types_that_can_have_one() -> None:
    for buc, role, state, step, target in _all_entries():
        if not SEDS[step.sed].horizontal and target is state:
            assert SEDS[step.sed].can_new_version, (buc, role, state, step)
            assert in_effect_steps(buc, role, state)[-1] == step


def test_withdrawing_or_rejecting_the_starter_leads_to_states_that_allow_restarting() -> None:
    for buc in BUC_NAMES:
        starter = Step(Direction.SEND, BUCS[buc].starter)
        table = TRANSITIONS[buc][Role.CASE_OWNER]
        for state in (CaseState.REJECTED, CaseState.WITHDRAWN):
            assert starter in table[state]
