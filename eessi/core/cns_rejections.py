"""The CNS desk after the fund of residence rejects its S072 (X011): what it does next, and how
the member's decision says so.

Per the BUC table an S072 rejected with an X011 goes out of effect: an S_BUC_01 case is back
where it was before the S072 (the fund's S071 in effect, the CNS owing the answer), and the CNS
may send a new S072, ask about the S071 (X012) or close the case (X001). Which one follows the
X011's reason:

- ``01`` not competent, ``02`` wrong case, ``05`` duplicate: nothing in this case can put it
  right, so the CNS closes it (X001; ``03`` duplicate case for a duplicate, else ``99``). A new
  S071, from the competent fund and in a new case, is answered as any other;
- ``03`` person unknown, ``04`` content incorrect, ``99`` other: the S072 was built from the
  fund's S071, so the CNS asks about it (X012) and holds the case. When the fund answers (X013)
  or sends a new S071 in the case, the CNS answers the S071 again: a new S072, decided afresh.

In S_BUC_01A (the CNS sent the S072 unasked) the case is held for the CNS's operator: an
:class:`~eessi.core.messages.IssueEntitlement` sends the S072 again in the same case.

While such a rejection stands, every decision about the member says so
(:func:`note_rejections`): one more reason, citing the path's rule (R17, or R14 for a cross-border
worker's family), naming the case, the fund, the X011's reason and text and what the CNS does
next; the hint of the missing S073 says the same.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from eessi.core import case as cm
from eessi.core.buc_table import CaseState, Direction
from eessi.core.desk import CaseFile
from eessi.core.eligibility import Decision
from eessi.core.facts import DocumentKind
from eessi.core.messages import MemberRef
from eessi.core.rules import RuleApplication
from eessi.sed.documents import X011, X012, ClosureReason, Question, RejectionReason

if TYPE_CHECKING:
    from eessi.core.cns import CnsRun

__all__ = ["clarified", "note_rejections", "rejected_by_peer"]

#: X011 reasons after which the CNS closes the S_BUC_01 case rather than asking about it.
_CLOSE = frozenset(
    {RejectionReason.NOT_COMPETENT, RejectionReason.WRONG_CASE, RejectionReason.DUPLICATE}
)
_TEXT_MAX = 500


def _label(reason: RejectionReason) -> str:
    return f"{reason.value} {reason.name.lower().replace('_', ' ')}"


def _said(x011: X011) -> str:
    why = _label(x011.reason)
    return f"{why}: {x011.additional_information}" if x011.additional_information else why


def rejected_by_peer(run: CnsRun, cf: CaseFile, events: tuple[cm.Event, ...]) -> CaseFile:
    """The fund rejected our S072 in ``cf`` (``events`` hold the machine's ``Rejected``): hold
    the case, then close it or ask about the S071, as the X011's reason calls for."""
    cf = run.tx.update(cf.case_id, suspended=True)
    if cf.buc != "S_BUC_01":
        return cf
    rejected = next(e for e in events if isinstance(e, cm.Rejected))
    x011 = cf.documents[rejected.rejection.document_id]
    assert isinstance(x011, X011)
    if x011.reason in _CLOSE:
        why = (
            ClosureReason.DUPLICATE_CASE
            if x011.reason is RejectionReason.DUPLICATE
            else ClosureReason.OTHER
        )
        run.tx.close(cf.case_id, why)
        return run.tx.cases[cf.case_id]
    s071 = cf.in_effect("S071")
    if s071 is None:
        return cf
    s071_id = s071[0].document.document_id
    text = (
        f"Your X011 rejected the S072 of the CNS (reason {_said(x011)}). Please confirm the "
        "person and the request of your S071, or send a new S071: the CNS then answers it "
        "again with a new S072."
    )
    x012 = X012(
        concerned=run.tx.reference(cf.case_id, s071_id),
        questions=(Question(number=1, text=text[:_TEXT_MAX]),),
    )
    run.tx.send(cf.case_id, x012, answers=s071_id)
    return run.tx.cases[cf.case_id]


def clarified(run: CnsRun, cf: CaseFile) -> None:
    """An X013 arrived in ``cf``: if it answers what the CNS asked after a rejection of its
    S072 (the case held, no S072 in effect, the S071 still in effect), answer the S071 again."""
    if (
        cf.buc != "S_BUC_01"
        or not cf.suspended
        or cf.state is CaseState.CLOSED
        or cf.in_effect("S072") is not None
        or cf.in_effect("S071") is None
        or _standing(cf) is None
    ):
        return
    run.tx.update(cf.case_id, suspended=False)
    if cf.member is not None:
        run.pursue(cf.member)


def _standing(cf: CaseFile) -> X011 | None:
    """The X011 that rejected our latest S072 in ``cf``, if nothing happened since that
    supersedes it (a new S072 of ours, a new S071 of the fund)."""
    if cf.in_effect("S072") is not None:
        return None
    for ex in reversed(cf.snapshot.history):
        code, direction = ex.document.code, ex.direction
        if (code == "S072" and direction is Direction.SEND) or (
            code == "S071" and direction is Direction.RECEIVE
        ):
            return None
        if code == "X011" and direction is Direction.RECEIVE:
            x011 = cf.documents[ex.document.document_id]
            if isinstance(x011, X011) and x011.rejected.sed_type == "S072":
                return x011
    return None


def _next_step(cf: CaseFile) -> str:
    if cf.state is CaseState.CLOSED:
        return (
            f"the CNS closed case {cf.case_id} (X001); a new S071 from the competent fund of "
            "residence, in a new case, will be answered"
        )
    if cf.buc == "S_BUC_01A":
        return (
            f"case {cf.case_id} is on hold: the CNS sends the S072 again in it when it is "
            "issued again, or closes it (X001)"
        )
    asked = any(
        ex.document.code == "X012" and ex.direction is Direction.SEND for ex in cf.snapshot.history
    )
    if asked:
        return (
            f"the CNS asked {cf.peer} about its S071 (X012) and answers it again with a new "
            "S072 once the fund replies (X013) or sends a new S071"
        )
    return f"case {cf.case_id} is on hold until {cf.peer} sends a new S071"


def note_rejections(run: CnsRun, ref: MemberRef, decision: Decision) -> Decision:
    """``decision`` with what a standing rejection of the CNS's S072 changes (module doc)."""
    notes: list[str] = []
    for cf in run.cases_of_household(ref.household):
        if cf.member != ref or cf.buc not in ("S_BUC_01", "S_BUC_01A"):
            continue
        x011 = _standing(cf)
        if x011 is None:
            continue
        notes.append(
            f"{cf.peer} rejected the S072 of the CNS in case {cf.case_id} (X011, reason "
            f"{_said(x011)}); next: {_next_step(cf)}"
        )
    if not notes:
        return decision
    waits = [m for m in decision.missing if m.kind is DocumentKind.S073]
    path = [r for r in decision.rules if r in ("R13", "R14", "R17")]
    rule = waits[0].rule if waits else (path[-1] if path else "R17")
    text = "; ".join(notes)
    missing = tuple(
        replace(m, hint=f"S072 rejected: {text}"[:_TEXT_MAX]) if m.kind is DocumentKind.S073 else m
        for m in decision.missing
    )
    return replace(
        decision,
        reasons=(*decision.reasons, RuleApplication(rule, text)),
        missing=missing,
    )
