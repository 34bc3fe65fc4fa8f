"""The mock behaviours plugged into a running node: what it sends, how it takes deliveries.

Two seams of the node (``eessi.node``):

* **outbound**: :class:`MockOutbound` implements the node's ``OutboundPolicy``
  (``outbound(sed, outgoing) -> OutboundSed | None``), called for each SED the fund's desk
  wants to send, before it is journaled. It asks the fund's :class:`~eessi.mock.behaviour.
  Behaviours` how to react to the document the SED answers (or, for a SED the fund sends on its
  own, such as its S071 or a reminder, to that SED's own type) and returns the SED unchanged,
  with overrides, refused, replaced by an X011 or X001, delayed, in several copies, broken, in
  another version, or ``None`` (silent). The node journals what is returned: the fund's journal
  shows what really travelled. Overrides replace the fields the SED has (a rule for any SED
  may name fields of another); a rule that cannot be applied is logged (``rule-failed``) and
  its error raised, so the node marks the document it reacted to failed.
* **inbound**: :class:`MockInbound` implements the node's ``InboundInterceptor``
  (``inbound(message, request) -> InboundAction | None``, called once the envelope is parsed
  and authenticated, before anything is journaled) so that ``fail`` rules can match the case
  and the SED type of the delivery: ``http500`` answers HTTP 503 (an ebMS error the sender
  retries), ``reset`` aborts the connection, ``timeout`` holds the request longer than the
  sender waits. A failed attempt is not journaled (the message never arrived); it is logged in
  the controller's log. Its :meth:`MockInbound.delivered` is the node's delivery listener
  (wakes whoever waits for a document).

The desk's own state is not told about substitutions (a mock may lie: that is the point); the
peer's reaction is what tests assert.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Protocol

from aiohttp import web

from eessi.core.buc_table import CaseState
from eessi.core.messages import Outgoing
from eessi.errors import EessiError
from eessi.mock.behaviour import (
    Answer,
    Behaviours,
    Close,
    Delay,
    Duplicate,
    Malformed,
    Reaction,
    Refuse,
    Send,
    Silent,
    Trigger,
    WrongVersion,
)
from eessi.mock.payloads import (
    closure,
    malformed,
    override,
    refused_answer,
    rejection,
    with_version,
)
from eessi.mock.templates import render
from eessi.node.hooks import InboundAction
from eessi.sed.validate import validate_or_raise
from eessi.transport.envelope import UserMessage
from eessi.transport.server import Outcome

__all__ = [
    "DeskView",
    "MockInbound",
    "MockOutbound",
    "OutboundSedLike",
    "Recorder",
    "desk_lookup",
]


class OutboundSedLike(Protocol):
    """The fields of the node's ``OutboundSed`` this module reads (it is a dataclass; changes
    are made with :func:`dataclasses.replace`)."""

    receiver: str
    case_id: str
    buc: str
    sed_type: str
    sed_version: str
    message_id: str
    ref_to_message_id: str | None
    payload: bytes
    delay: float
    copies: int


class Recorder(Protocol):
    """Where the interceptors report what they did (the controller's log)."""

    def record(self, fund: str, what: str, **data: Any) -> None: ...

    def delivered(self, fund: str) -> None: ...


_COMPLETED: Final = CaseState.COMPLETED
_CLOSED: Final = CaseState.CLOSED


def _finished(cf: Any) -> bool | None:
    """Whether a desk's case file is finished for the mock's per-case state (D470): closed, or
    its BUC's flow completed; ``None`` for no file."""
    if cf is None:
        return None
    state = getattr(cf, "state", None)
    return state is _COMPLETED or state is _CLOSED


#: The node's desk, as far as the outbound policy needs it (finding the SED type answered).
DeskLookup = Callable[[str, str], str | None]


class DeskView:
    """What person and XPath rules need from the fund's desk: the documents of a case (the
    one the fund reacts to), who the case is about, and the keys of the fund's records by
    PIN. Read only when a rule matches on a person or an XPath."""

    def __init__(self, desk_of: Callable[[], Any]) -> None:
        self._desk_of = desk_of

    def case(self, case_id: str) -> Any:
        """The desk's file of the case (``None``: unknown)."""
        cases = getattr(self._desk_of().snapshot(), "cases", None)
        return None if cases is None else cases.get(case_id)

    _case = case

    def document(self, case_id: str, document_id: str) -> Any:
        """The document ``document_id`` of the case as the desk read it (``None``: unknown)."""
        cf = self._case(case_id)
        return None if cf is None else cf.documents.get(document_id)

    def finished(self, case_id: str) -> bool | None:
        """Whether the case is finished at the desk: closed, or its BUC's flow completed
        (``None``: the desk does not know it). What bounds the book's per-case state (D470)."""
        return _finished(self._case(case_id))

    def now(self) -> datetime | None:
        """The desk's clock (``None`` if it has none)."""
        clock = getattr(self._desk_of(), "clock", None)
        return None if clock is None else clock.now()

    def persons(self, case_id: str, doc: Any = None) -> frozenset[str]:
        """Who the case is about: the key of the fund's record (``household/member``), the
        PINs of ``doc``'s person, and the keys of the records that share one of them."""
        out: set[str] = set()
        cf = self._case(case_id)
        key = getattr(cf, "person", None)
        if isinstance(key, str):
            out.add(key)
        person = getattr(doc, "person", None)
        pins = {p.number for p in getattr(person, "pins", ())}
        out |= pins
        if pins:
            records = getattr(self._desk_of(), "records", {})
            for rec in records.values():
                if pins & {p.number for p in rec.person.pins}:
                    out.add(rec.key)
        return frozenset(out)


def desk_lookup(desk_of: Callable[[], Any]) -> DeskLookup:
    """``(case_id, document_id) -> SED type`` from a desk's snapshot (``None`` if unknown)."""

    def find(case_id: str, document_id: str) -> str | None:
        snapshot = desk_of().snapshot()
        cf = snapshot.cases.get(case_id)
        if cf is None:
            return None
        doc = cf.documents.get(document_id)
        return None if doc is None else str(doc.code)

    return find


class MockOutbound:
    """The node's outbound policy for one mock fund (see the module docstring)."""

    def __init__(
        self,
        fund: str,
        book: Behaviours,
        lookup: DeskLookup,
        log: Recorder,
        view: DeskView | None = None,
    ) -> None:
        self.fund = fund
        self.book = book
        self.lookup = lookup
        self.log = log
        self.view = view

    def _reads(self, sed: Any, outgoing: Outgoing) -> tuple[frozenset[str], bytes | None]:
        """The persons and the document a person or XPath rule matches against: the document
        the fund reacts to (as its desk read it), or for a SED it sends on its own, that SED."""
        if self.view is None or not self.book.reads_documents:
            return frozenset(), None
        answered = outgoing.answers
        doc = self.view.document(outgoing.case_id, answered) if answered is not None else None
        if doc is None:
            return self.view.persons(outgoing.case_id, outgoing.sed), sed.payload
        try:
            payload = doc.to_xml()
        except (EessiError, ValueError, TypeError):
            payload = None
        return self.view.persons(outgoing.case_id, doc), payload

    def outbound(self, sed: Any, outgoing: Outgoing) -> Any:
        answered = outgoing.answers
        finished: bool | None = None
        if self.view is not None:  # one look at the desk's case for both questions (D472)
            cf = self.view.case(outgoing.case_id)
            doc = cf.documents.get(answered) if cf is not None and answered is not None else None
            trigger_sed = str(doc.code) if doc is not None else outgoing.sed.code
            finished = _finished(cf)
        else:
            trigger_sed = (
                self.lookup(outgoing.case_id, answered) if answered is not None else None
            ) or outgoing.sed.code
        persons, document = self._reads(sed, outgoing)
        reaction = self.book.on_document(
            Trigger(
                fund=self.fund,
                case=outgoing.case_id,
                sed=trigger_sed,
                buc=outgoing.buc,
                message_id=answered if answered is not None else sed.message_id,
                counterparty=outgoing.receiver,
                persons=persons,
                document=document,
            ),
            finished=finished,
        )
        try:
            result = self._apply(reaction, sed, outgoing, trigger_sed)
        except EessiError as exc:
            # Said here, then raised: the node marks the document that asked for this answer
            # failed (processing_failed) rather than send something the rule did not ask for.
            self.log.record(
                self.fund,
                "rule-failed",
                case=outgoing.case_id,
                reacting_to=trigger_sed,
                desk_sed=outgoing.sed.code,
                effect=reaction.effect.kind,
                rule=reaction.rule,
                reason=str(exc),
            )
            raise
        entry: dict[str, Any] = {}
        if isinstance(reaction.effect, Answer) and reaction.effect.overrides:
            skipped = sorted(set(reaction.effect.overrides) - _field_names(outgoing.sed))
            if skipped:  # a rule for any SED, on a SED without these fields
                entry["skipped_overrides"] = skipped
        elif isinstance(reaction.effect, Send):  # said in the log: hand-written, maybe broken
            entry["template"] = reaction.effect.file or "inline"
            entry["invalid"] = reaction.effect.invalid
        self.log.record(
            self.fund,
            "send",
            case=outgoing.case_id,
            reacting_to=trigger_sed,
            desk_sed=outgoing.sed.code,
            sent=None if result is None else result.sed_type,
            effect=reaction.effect.kind,
            rule=reaction.rule,
            delay=reaction.delay,
            copies=1 if result is None else result.copies,
            **entry,
        )
        return result

    def _apply(self, reaction: Reaction, sed: Any, out: Outgoing, trigger_sed: str) -> Any:
        effect = reaction.effect
        doc = out.sed
        if doc.version != sed.sed_version:  # the node chose a version the receiver accepts
            with contextlib.suppress(EessiError, ValueError, TypeError):
                doc = dataclasses.replace(doc, version=sed.sed_version)
        if isinstance(effect, Answer):
            if not effect.overrides:  # the BUC rules' answer, as the desk wrote it
                return sed
            names = _field_names(doc)
            present = {k: v for k, v in effect.overrides.items() if k in names}
            if not present:
                return sed
            return dataclasses.replace(sed, payload=override(doc, present).to_xml())
        if isinstance(effect, Delay):
            return dataclasses.replace(sed, delay=sed.delay + reaction.delay)
        if isinstance(effect, Silent):
            return None
        if isinstance(effect, Duplicate):
            return dataclasses.replace(sed, copies=effect.times)
        if isinstance(effect, Malformed):
            return dataclasses.replace(sed, payload=malformed(sed.payload, effect.malformed))
        if isinstance(effect, WrongVersion):
            return dataclasses.replace(
                sed, payload=with_version(doc, effect.version), sed_version=effect.version
            )
        if isinstance(effect, Refuse):
            if effect.code is not None:
                refused = refused_answer(doc, effect.code)
                if refused is None:
                    return sed  # this SED has no refusal form: answer as is
                return dataclasses.replace(sed, payload=refused.to_xml())
            if out.answers is None:
                return sed  # nothing received to reject
            assert effect.x011 is not None
            x011 = rejection(sed.sed_version, trigger_sed, out.answers, effect.x011)
            return dataclasses.replace(sed, sed_type="X011", payload=x011.to_xml())
        if isinstance(effect, Send):
            return self._send(effect, sed, out)
        if isinstance(effect, Close):
            return dataclasses.replace(
                sed, sed_type="X001", payload=closure(sed.sed_version).to_xml()
            )
        return sed  # Fail rules never reach here (they act on deliveries)

    def _send(self, effect: Send, sed: Any, out: Outgoing) -> Any:
        """The hand-written document, its placeholders filled in; a valid template must
        still be valid with the real values (else the rule fails, logged)."""
        answered = None
        if out.answers is not None and self.view is not None:
            answered = self.view.document(out.case_id, out.answers)
        person = getattr(answered if answered is not None else out.sed, "person", None)
        pins = getattr(person, "pins", ())
        now = self.view.now() if self.view is not None else None
        values = {
            "case": out.case_id,
            "message_id": sed.message_id,
            "answers": out.answers or "",
            "today": now.date().isoformat() if now is not None else "",
            "now": now.isoformat() if now is not None else "",
            "sender": self.fund,
            "receiver": out.receiver,
            "family_name": str(getattr(person, "family_name", "") or ""),
            "forename": str(getattr(person, "forename", "") or ""),
            "birth_date": str(getattr(person, "birth_date", "") or ""),
            "pin": pins[0].number if pins else "",
        }
        payload = render(effect.template, values)
        if effect.invalid:
            found = _ROOT.search(payload)
            sed_type = found.group(1).decode() if found else sed.sed_type
            return dataclasses.replace(sed, payload=payload, sed_type=sed_type)
        valid = validate_or_raise(payload, where=f"the template of rule {effect.sed}")
        return dataclasses.replace(
            sed, payload=payload, sed_type=valid.sed, sed_version=valid.version
        )


#: The SED type of a document's root element (for a deliberately invalid template).
_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([SXH]\d{3})[\s>/]")


#: The field names of each SED class (``dataclasses.fields`` walks the class on every call).
_FIELDS: dict[type, frozenset[str]] = {}


def _field_names(doc: Any) -> frozenset[str]:
    cls = type(doc)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(doc))
    return names


class MockInbound:
    """The node's inbound interceptor for one mock fund: ``fail`` rules fail deliveries, per
    case (see the module docstring). ``stall_seconds`` is how long a ``timeout`` holds a
    request (real seconds: make it longer than the sender's attempt timeout)."""

    def __init__(
        self,
        fund: str,
        book: Behaviours,
        log: Recorder,
        *,
        stall_seconds: float = 30.0,
        view: DeskView | None = None,
    ) -> None:
        self.fund = fund
        self.book = book
        self.log = log
        self.stall_seconds = stall_seconds
        self.view = view

    def inbound(self, message: UserMessage, request: web.Request | None) -> InboundAction | None:
        if not self.book.may_fail:  # no fail rule: every delivery goes through
            return None
        m = message
        persons: frozenset[str] = frozenset()
        if self.view is not None and self.book.reads_documents:
            persons = self.view.persons(m.conversation_id)  # the document is not read yet
        attempt = self.book.on_attempt(
            Trigger(
                self.fund,
                m.conversation_id,
                m.sed_type,
                None,
                m.message_id,
                counterparty=m.from_party,
                persons=persons,
            )
        )
        if attempt.effect is None:
            return None
        mode = attempt.effect.mode
        self.log.record(
            self.fund,
            "failed-delivery",
            case=m.conversation_id,
            sed=m.sed_type,
            message_id=m.message_id,
            mode=mode,
            attempt=attempt.number,
            rule=attempt.rule,
        )
        reason = (
            f"{self.fund}: simulated failure ({mode}, attempt {attempt.number} of"
            f" {attempt.effect.times}); nothing was kept, send it again later"
        )
        if mode == "reset":
            return InboundAction("reset", reason=reason)
        if mode == "timeout":
            held = attempt.effect.seconds
            seconds = self.stall_seconds if held is None else held
            return InboundAction("status", status=503, seconds=seconds, reason=reason)
        return InboundAction("status", status=503, reason=reason)

    def delivered(self, message: UserMessage, outcome: Outcome) -> None:
        """The node handled a delivery (journaled): wake whoever waits for one."""
        self.log.delivered(self.fund)
