"""Compare two runs of an exchange message by message and field by field.

Used by ``eessi trace diff A B`` (two traces) and by ``eessi replay`` (what the trace recorded
against what the institutions send now).

**Which messages are compared.** A trace may hold one exchange twice (the sender's ``out`` and
the receiver's ``in`` record); the comparison works on *messages*, not records: one per
(sender, message ID), the outbound record when the trace has it. Case IDs and message IDs
differ between runs by nature, so messages are paired by what they *are*: the k-th message
with the same (sender, receiver, case ordinal, SED type) on each side, where the case ordinal
numbers the cases in the order they first appear (case 1, case 2...). What is left unpaired is
reported as missing (recorded, not sent now) or extra (sent now, not recorded).

**What is compared.** The payload's fields (:func:`eessi.trace.fields.field_map`) minus the
ignored ones (:data:`eessi.trace.fields.DEFAULT_IGNORE` plus ``--ignore``), the SED version,
and which message it answers (``RefToMessageId``, compared as the *paired identity* of the
referenced message, since the raw IDs are volatile).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eessi.journal.base import Direction
from eessi.trace.fields import DEFAULT_IGNORE, IgnoreRules, field_map
from eessi.trace.format import TraceMessage

__all__ = [
    "DiffResult",
    "Divergence",
    "LogicalMessage",
    "compare",
    "logical_messages",
]

Kind = Literal["field", "missing", "extra"]


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    """One message of an exchange, with its identity for pairing."""

    #: 1-based position of its record among the trace's messages (line = index + 1).
    index: int
    message: TraceMessage
    #: Ordinal of its case in the trace (1 for the first case that appears).
    case: int
    #: ``k`` for the k-th message with the same (sender, receiver, case, SED type).
    occurrence: int

    @property
    def key(self) -> tuple[str, str, int, str, int]:
        r = self.message.record
        return (r.sender, r.receiver, self.case, r.sed_type, self.occurrence)

    def label(self) -> str:
        r = self.message.record
        return f"{r.sed_type} {r.sender} -> {r.receiver} (case {self.case}, #{self.occurrence})"


@dataclass(frozen=True, slots=True)
class Divergence:
    """One difference between the recorded run and the other one."""

    kind: Kind
    #: Which message: SED type, sender, receiver, case ordinal, occurrence.
    sed_type: str
    sender: str
    receiver: str
    case: int
    occurrence: int
    #: Position of the message in the recorded trace (``None`` for an extra message).
    index: int | None
    #: Position in the other trace / the replay output (``None`` for a missing message).
    other_index: int | None
    #: Field XPath (``None`` for a missing or extra message).
    field: str | None = None
    recorded: str | None = None
    now: str | None = None

    def describe(self) -> str:
        who = f"{self.sed_type} {self.sender} -> {self.receiver}"
        if self.case:
            who += f" (case {self.case})"
        if self.kind == "missing":
            return f"message {self.index}: {who}: recorded but not sent now"
        if self.kind == "extra":
            return f"new message {self.other_index}: {who}: sent now but not recorded"
        return (
            f"message {self.index}: {who}: {self.field}: recorded {_show(self.recorded)},"
            f" now {_show(self.now)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.index,
            "other_message": self.other_index,
            "sed": self.sed_type,
            "sender": self.sender,
            "receiver": self.receiver,
            "case": self.case,
            "occurrence": self.occurrence,
            "field": self.field,
            "recorded": self.recorded,
            "now": self.now,
        }


def _show(value: str | None) -> str:
    return "(absent)" if value is None else repr(value)


@dataclass(frozen=True, slots=True)
class DiffResult:
    """The outcome of a comparison."""

    divergences: tuple[Divergence, ...]
    #: Messages compared on each side, and how many were paired.
    recorded: int
    now: int
    paired: int

    @property
    def ok(self) -> bool:
        return not self.divergences

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "recorded_messages": self.recorded,
            "now_messages": self.now,
            "paired": self.paired,
            "divergences": [d.to_dict() for d in self.divergences],
        }


def logical_messages(
    messages: Sequence[TraceMessage], *, prefer: Direction = Direction.OUT
) -> list[LogicalMessage]:
    """One entry per (sender, message ID), numbered for pairing.

    A message recorded both ways keeps the ``prefer`` record (outbound by default: what the
    sender sent) at the position of its first record.
    """
    chosen: dict[tuple[str, str], tuple[int, TraceMessage]] = {}
    order: list[tuple[str, str]] = []
    for i, m in enumerate(messages, start=1):
        key = (m.record.sender, m.record.message_id)
        if key not in chosen:
            chosen[key] = (i, m)
            order.append(key)
        elif m.record.direction is prefer and chosen[key][1].record.direction is not prefer:
            chosen[key] = (chosen[key][0], m)
    cases: dict[str, int] = {}
    counts: dict[tuple[str, str, int, str], int] = {}
    out: list[LogicalMessage] = []
    for key in order:
        index, m = chosen[key]
        r = m.record
        case = cases.setdefault(r.conversation_id, len(cases) + 1)
        group = (r.sender, r.receiver, case, r.sed_type)
        counts[group] = counts.get(group, 0) + 1
        out.append(LogicalMessage(index, m, case, counts[group]))
    return out


def _refs(messages: Sequence[LogicalMessage]) -> dict[str, str]:
    """Message ID -> a run-independent name of that message (for RefToMessageId)."""
    return {
        m.message.record.message_id: "{} {}->{} case {} #{}".format(
            m.message.record.sed_type, *m.key[:3], m.occurrence
        )
        for m in messages
    }


def _meta(m: LogicalMessage, refs: dict[str, str]) -> dict[str, str]:
    r = m.message.record
    ref = r.ref_to_message_id
    return {
        "envelope:sed_version": r.sed_version,
        "envelope:answers": "" if ref is None else refs.get(ref, "(a message not in the trace)"),
    }


def _same_reference(
    ref_a: str | None,
    ref_b: str | None,
    key_of_a: dict[str, tuple[str, str, int, str, int]],
    key_of_b: dict[str, tuple[str, str, int, str, int]],
) -> bool:
    """Whether ``_meta`` gives the two references the same ``envelope:answers`` text: both
    none, or both naming no message of their side, or messages with the same key."""
    if ref_a is None or ref_b is None:
        return ref_a is ref_b
    return key_of_a.get(ref_a) == key_of_b.get(ref_b)


def compare(
    recorded: Sequence[TraceMessage],
    now: Sequence[TraceMessage],
    *,
    ignore: Iterable[str] = DEFAULT_IGNORE,
) -> DiffResult:
    """Every divergence between ``recorded`` and ``now``, recorded order first, then extras."""
    rules = IgnoreRules(ignore)
    a = logical_messages(recorded)
    b = logical_messages(now)
    keys_a = [m.key for m in a]
    keys_b = [m.key for m in b]
    by_key = dict(zip(keys_b, b, strict=True))
    # A reference's run-independent name (``_refs``) is made of its message's key alone, so
    # two references name the same message when their keys are equal: the names are written
    # only for a pair that differs (D343).
    key_of_a = {m.message.record.message_id: k for m, k in zip(a, keys_a, strict=True)}
    key_of_b = {m.message.record.message_id: k for m, k in zip(b, keys_b, strict=True)}
    refs: tuple[dict[str, str], dict[str, str]] | None = None
    paired_keys: set[tuple[str, str, int, str, int]] = set()
    found: list[Divergence] = []
    for ma, key in zip(a, keys_a, strict=True):
        ra = ma.message.record
        mb = by_key.get(key)
        common = (ra.sed_type, ra.sender, ra.receiver, ma.case, ma.occurrence)
        if mb is None:
            found.append(Divergence("missing", *common, ma.index, None))
            continue
        paired_keys.add(key)
        rb = mb.message.record
        if (
            ra.payload == rb.payload
            and ra.sed_version == rb.sed_version
            and _same_reference(ra.ref_to_message_id, rb.ref_to_message_id, key_of_a, key_of_b)
        ):
            continue  # the same bytes and envelope: nothing to compare field by field
        if refs is None:
            refs = _refs(a), _refs(b)
        fa = _meta(ma, refs[0])
        fb = _meta(mb, refs[1])
        if fa == fb and ra.payload == rb.payload:
            continue
        fa.update(field_map(ra.payload))
        fb.update(field_map(rb.payload))
        for path in [*fa, *(p for p in fb if p not in fa)]:
            va, vb = fa.get(path), fb.get(path)
            if va != vb and not rules.ignored(path):
                found.append(Divergence("field", *common, ma.index, mb.index, path, va, vb))
    for mb, key in zip(b, keys_b, strict=True):
        if key not in paired_keys:
            rb = mb.message.record
            found.append(
                Divergence(
                    "extra",
                    rb.sed_type,
                    rb.sender,
                    rb.receiver,
                    mb.case,
                    mb.occurrence,
                    None,
                    mb.index,
                )
            )
    return DiffResult(tuple(found), len(a), len(b), len(paired_keys))
