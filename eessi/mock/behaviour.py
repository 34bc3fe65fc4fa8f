"""Scriptable behaviours of a mock fund: rules as data, evaluated deterministically.

A mock fund answers like a real one by default (its :class:`~eessi.core.fund.FundDesk` follows
the BUC rules). A **rule** changes that for what it matches: a fund, optionally a BUC, the SED
type it reacts to, one case, the n-th occurrence of that SED in the case, a person (a PIN or
the fund's record key), the counterparty, an XPath over the SED. Its **effect** says what the
fund does instead.

Theory of operation
-------------------
Rules are plain data: the same shape in a profile (TOML ``[[rule]]``) and over the admin API
(JSON), parsed by :func:`parse_rule` into frozen values. A :class:`Behaviours` book holds the
rules of one fund and the per-case state they need (occurrence and failure counters, keyed by
case ID, the WireMock lesson: state belongs to the entity, not to one global scenario). That
state is bounded (D470): every open case's, and a finished case's (closed or completed at the
fund's desk) while it is among the last :data:`KEEP_FINISHED` finished ones.

The node asks the book two questions:

* :meth:`Behaviours.on_attempt`: a delivery attempt of an inbound message arrived (before it is
  journaled). Only ``fail`` rules answer: the first ``times`` attempts in the case fail
  (``http500``, ``reset``, ``timeout``), later ones go through ("fail N times then recover").
* :meth:`Behaviours.on_document`: an accepted document is about to be answered. Every other
  effect answers: ``answer`` (with overrides), ``delay``, ``refuse``, ``silent``,
  ``duplicate``, ``malformed``, ``wrong_version``, ``close``.

**Precedence: the most specific rule wins**: a rule naming the case, a person or an XPath (as
specific as each other: they add up) beats one naming the SED type, which beats one naming the
BUC, then the counterparty, which beats the fund's default; ``nth`` breaks the remaining
ties; among equally specific rules the one added last wins (so a rule set at run time
overrides the profile's). No matching rule means ``answer``: the BUC rules.

Everything is pure and deterministic: random delays come from the injected
:class:`random.Random`, and the book never reads a clock (a delay is a number of seconds of the
node's clock, virtual in tests).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from eessi.errors import ConfigError
from eessi.mock.journal_query import check_rule_xpath
from eessi.mock.journal_query import matches as xpath_matches
from eessi.mock.payloads import check_overrides
from eessi.mock.templates import check_template, read_template
from eessi.quick_init import quick_init
from eessi.sed.catalogue import BUCS, SEDS

__all__ = [
    "EFFECTS",
    "EFFECT_PARAMETERS",
    "FAIL_MODES",
    "KEEP_FINISHED",
    "MALFORMED_KINDS",
    "MATCH_KEYS",
    "Answer",
    "Attempt",
    "Behaviours",
    "Close",
    "Delay",
    "Duplicate",
    "Effect",
    "Fail",
    "FinishedCheck",
    "Malformed",
    "Match",
    "Reaction",
    "Refuse",
    "Rule",
    "Send",
    "Silent",
    "Trigger",
    "WrongVersion",
    "parse_rule",
    "parse_rules",
]

MalformedKind = Literal["truncated", "not-xml", "schema-invalid"]
FailMode = Literal["http500", "reset", "timeout"]
#: What a malformed answer looks like: cut in the middle, not XML at all, or well-formed XML
#: that breaks its schema.
MALFORMED_KINDS: Final[tuple[MalformedKind, ...]] = ("truncated", "not-xml", "schema-invalid")
#: How a failing delivery attempt fails: HTTP 500, the connection reset, or no answer until
#: the sender's attempt timeout.
FAIL_MODES: Final[tuple[FailMode, ...]] = ("http500", "reset", "timeout")


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer as the BUC rules say; ``overrides`` replace fields of the answer SED
    (``{"reply": "03"}`` on an S041, ``{"additional_information": "..."}``)."""

    overrides: Mapping[str, Any] = field(default_factory=dict)
    kind: Literal["answer"] = "answer"


@dataclass(frozen=True, slots=True)
class Delay:
    """Answer after ``seconds``, or after a random time in ``[min, max]`` seconds (drawn from
    the book's seeded RNG), of the node's clock."""

    seconds: float | None = None
    min: float | None = None
    max: float | None = None
    kind: Literal["delay"] = "delay"

    def draw(self, rng: random.Random) -> float:
        if self.seconds is not None:
            return self.seconds
        assert self.min is not None
        assert self.max is not None
        return rng.uniform(self.min, self.max)


@dataclass(frozen=True, slots=True)
class Refuse:
    """Refuse: reject the received SED with an X011 (``x011`` = reason code, e.g. ``"04"``),
    or answer with a refusal ``code`` in the answer itself (S041 reply ``"03"``, S072 not
    confirmed with reason ``"01"``, S073 not registered)."""

    x011: str | None = None
    code: str | None = None
    kind: Literal["refuse"] = "refuse"


@dataclass(frozen=True, slots=True)
class Silent:
    """Send nothing (the peer reminds with X009 after its deadline)."""

    kind: Literal["silent"] = "silent"


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Send each answer ``times`` times with the same MessageId (the peer must process it
    once and receipt every copy)."""

    times: int = 2
    kind: Literal["duplicate"] = "duplicate"


@dataclass(frozen=True, slots=True)
class Malformed:
    """Send the answer's bytes broken (see :data:`MALFORMED_KINDS`)."""

    malformed: MalformedKind = "truncated"
    kind: Literal["malformed"] = "malformed"


@dataclass(frozen=True, slots=True)
class WrongVersion:
    """Send the answer declared in another SED version (``"4.3"``, or ``"3.9"`` which nobody
    supports)."""

    version: str = "3.9"
    kind: Literal["wrong_version"] = "wrong_version"


@dataclass(frozen=True, slots=True)
class Fail:
    """Fail the first ``times`` delivery attempts in a case (``mode``), then recover.

    For ``timeout``, ``seconds`` is how long the request is held (default: the controller's
    ``stall_seconds``); make it longer than the sender's attempt timeout."""

    times: int = 1
    mode: FailMode = "http500"
    seconds: float | None = None
    kind: Literal["fail"] = "fail"


@dataclass(frozen=True, slots=True)
class Close:
    """Close the case (X001) instead of answering."""

    kind: Literal["close"] = "close"


@dataclass(frozen=True, slots=True)
class Send:
    """Send a hand-written document instead of the answer: ``template`` (the XML, with
    placeholders, read from ``file`` if one was given), validated when the rule is made
    unless ``invalid`` (then sent as is, on purpose); ``sed`` is the type it validated as."""

    template: str
    file: str | None = None
    invalid: bool = False
    sed: str | None = None
    kind: Literal["send"] = "send"


Effect: TypeAlias = (
    Answer | Delay | Refuse | Silent | Duplicate | Malformed | WrongVersion | Fail | Close | Send
)
#: Effect names as written in rules.
EFFECTS: Final[tuple[str, ...]] = (
    "answer",
    "delay",
    "refuse",
    "silent",
    "duplicate",
    "malformed",
    "wrong_version",
    "fail",
    "close",
    "send",
)


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Match:
    """What a rule applies to. ``None`` = any."""

    #: IR ID of the fund (``None``: the fund whose book holds the rule).
    fund: str | None = None
    buc: str | None = None
    #: The SED type the fund reacts to (the received one).
    sed: str | None = None
    case: str | None = None
    #: Only the n-th occurrence (1-based) of that SED type in the case.
    nth: int | None = None
    #: A person: a PIN of the SED's person (any country), or the key of the fund's record
    #: (``household/member``) the case or the document is about.
    person: str | None = None
    #: IR ID of the other institution (the sender of what the fund reacts to, the receiver
    #: of what it sends on its own).
    counterparty: str | None = None
    #: A prefix-insensitive XPath over the SED the fund reacts to (``eessi.mock.
    #: journal_query``): the rule applies when it selects something or is true.
    xpath: str | None = None

    @property
    def specificity(self) -> tuple[int, bool, bool, bool, bool]:
        """(case, person, XPath) > SED > BUC > counterparty > nth > fund default, compared
        in this order; case, person and XPath are equally specific (each names one case or
        one person's cases) and add up."""
        return (
            (self.case is not None) + (self.person is not None) + (self.xpath is not None),
            self.sed is not None,
            self.buc is not None,
            self.counterparty is not None,
            self.nth is not None,
        )

    def matches(self, t: Trigger, occurrence: int) -> bool:
        return (
            (self.fund is None or self.fund == t.fund)
            and (self.buc is None or self.buc == t.buc)
            and (self.sed is None or self.sed == t.sed)
            and (self.case is None or self.case == t.case)
            and (self.nth is None or self.nth == occurrence)
            and (self.counterparty is None or self.counterparty == t.counterparty)
            and (self.person is None or self.person in t.persons)
            and (
                self.xpath is None
                or (t.document is not None and _xpath_holds(t.document, self.xpath))
            )
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in MATCH_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _xpath_holds(document: bytes, xpath: str) -> bool:
    # A prefix this document does not bind (the SED type of another SED) matches nothing.
    try:
        return xpath_matches(document, xpath)
    except ConfigError:
        return False


@dataclass(frozen=True, slots=True)
class Rule:
    """One behaviour: when :attr:`match` applies, do :attr:`effect`."""

    id: str
    match: Match
    effect: Effect
    #: Where it came from (``"profile"``, ``"api"``, ``"scenario"``, ``"test"``), for listings.
    origin: str = "api"
    #: When it was added (ISO 8601, the node's clock); ``None``: in force from the start (a
    #: profile's rule).
    added_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": self.match.to_dict(),
            "effect": effect_to_dict(self.effect),
            "origin": self.origin,
            "added_at": self.added_at,
        }


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    """The data form of an effect (what :func:`parse_rule` reads back)."""
    out: dict[str, Any] = {"kind": effect.kind}
    if isinstance(effect, Answer):
        if effect.overrides:
            out["overrides"] = dict(effect.overrides)
    elif isinstance(effect, Delay):
        if effect.seconds is not None:
            out["seconds"] = effect.seconds
        else:
            out["min"], out["max"] = effect.min, effect.max
    elif isinstance(effect, Refuse):
        if effect.x011 is not None:
            out["x011"] = effect.x011
        if effect.code is not None:
            out["code"] = effect.code
    elif isinstance(effect, Duplicate):
        out["times"] = effect.times
    elif isinstance(effect, Malformed):
        out["malformed"] = effect.malformed
    elif isinstance(effect, WrongVersion):
        out["version"] = effect.version
    elif isinstance(effect, Fail):
        out["times"], out["mode"] = effect.times, effect.mode
        if effect.seconds is not None:
            out["seconds"] = effect.seconds
    elif isinstance(effect, Send):
        if effect.file is not None:
            out["file"] = effect.file
        else:
            out["template"] = effect.template
        out["invalid"] = effect.invalid
    return out


# --------------------------------------------------------------------------- parsing

#: The keys of a rule's ``match``.
MATCH_KEYS: Final[tuple[str, ...]] = (
    "fund",
    "buc",
    "sed",
    "case",
    "nth",
    "person",
    "counterparty",
    "xpath",
)
#: The parameters each effect takes.
EFFECT_PARAMETERS: Final[dict[str, tuple[str, ...]]] = {
    "answer": ("overrides",),
    "delay": ("seconds", "min", "max"),
    "refuse": ("x011", "code"),
    "silent": (),
    "duplicate": ("times",),
    "malformed": ("malformed",),
    "wrong_version": ("version",),
    "fail": ("times", "mode", "seconds"),
    "close": (),
    "send": ("template", "file", "invalid"),
}


def parse_rules(items: Iterable[Any], *, where: str, origin: str = "api") -> tuple[Rule, ...]:
    """Parse a list of rules (``[[rule]]`` tables or a JSON array)."""
    return tuple(
        parse_rule(item, where=f"{where}: rule #{i}", origin=origin, default_id=f"{origin}-{i}")
        for i, item in enumerate(items, start=1)
    )


def parse_rule(
    data: Any, *, where: str = "rule", origin: str = "api", default_id: str | None = None
) -> Rule:
    """Check one rule given as data and build it; a :class:`ConfigError` names the key.

    Shape (TOML or JSON)::

        {"id": "slow-s041",                       # optional
         "match": {"buc": "S_BUC_24", "sed": "S040", "case": "LU-…", "nth": 1},
         "effect": {"kind": "delay", "min": 60, "max": 600}}

    ``effect`` may also be a bare effect name (``"silent"``). Without an ``id`` (and no
    ``default_id``), the ID is derived from the rule's content.
    """

    def fail(key: str, message: str, hint: str) -> ConfigError:
        return ConfigError(
            message,
            code="mock.bad-rule",
            where=f"{where}, key {key!r}",
            hint=hint,
            details={"key": key},
        )

    if not isinstance(data, Mapping):
        raise ConfigError(
            "a rule must be a table/object",
            code="mock.bad-rule",
            where=where,
            hint='write {"match": {...}, "effect": {"kind": "..."}}',
        )
    unknown = sorted(set(data) - {"id", "match", "effect"})
    if unknown:
        raise fail(unknown[0], f"unknown key {unknown[0]!r}", "a rule has id, match and effect")
    rule_id = data.get("id", default_id)
    if rule_id is not None and (not isinstance(rule_id, str) or not rule_id):
        raise fail("id", "id must be a non-empty string", 'write "id": "slow-answers"')
    match = _parse_match(data.get("match", {}), fail)
    if "effect" not in data:
        raise fail("effect", "the rule has no effect", f"give one of: {', '.join(EFFECTS)}")
    effect = _parse_effect(data["effect"], fail)
    if isinstance(effect, Fail) and match.xpath is not None:
        raise fail(
            "match.xpath",
            "a fail rule cannot match an XPath: a delivery fails before its document is read",
            "match a fail rule on case, person, counterparty, SED, BUC or nth",
        )
    if isinstance(effect, Answer) and effect.overrides:
        check_overrides(effect.overrides, match.sed, where=where)
    if rule_id is None:  # stable: the same rule given twice replaces itself
        digest = hashlib.sha256(repr((match, effect)).encode()).hexdigest()[:8]
        rule_id = f"{effect.kind}-{digest}"
    return Rule(rule_id, match, effect, origin)


def _parse_match(raw: Any, fail: Any) -> Match:
    if not isinstance(raw, Mapping):
        raise fail("match", "match must be a table/object", 'write "match": {"sed": "S040"}')
    unknown = sorted(set(raw) - set(MATCH_KEYS))
    if unknown:
        raise fail(
            f"match.{unknown[0]}",
            f"unknown match key {unknown[0]!r}",
            f"match on: {', '.join(MATCH_KEYS)}",
        )
    values: dict[str, Any] = {}
    for key in ("fund", "buc", "sed", "case", "person", "counterparty", "xpath"):
        if key in raw:
            v = raw[key]
            if not isinstance(v, str) or not v:
                raise fail(f"match.{key}", f"match.{key} must be a non-empty string", "")
            values[key] = v
    if "buc" in values and values["buc"] not in BUCS:
        raise fail(
            "match.buc", f"unknown BUC {values['buc']!r}", f"known: {', '.join(sorted(BUCS))}"
        )
    if "sed" in values and values["sed"] not in SEDS:
        raise fail(
            "match.sed", f"unknown SED type {values['sed']!r}", f"known: {', '.join(sorted(SEDS))}"
        )
    if "nth" in raw:
        nth = raw["nth"]
        if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
            raise fail("match.nth", "nth must be a whole number >= 1", 'write "nth": 2')
        values["nth"] = nth
    if "xpath" in values:
        try:
            check_rule_xpath(values["xpath"])
        except ConfigError as exc:
            raise fail("match.xpath", exc.message, exc.hint or "") from None
    return Match(**values)


def _number(params: Mapping[str, Any], key: str, fail: Any, *, whole: bool = False) -> Any:
    v = params[key]
    ok = isinstance(v, int) if whole else isinstance(v, int | float)
    if isinstance(v, bool) or not ok or v < 0:
        kind = "a whole number" if whole else "a number"
        raise fail(f"effect.{key}", f"{key} must be {kind} >= 0", f'write "{key}": 2')
    return v


def _parse_effect(raw: Any, fail: Any) -> Effect:
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, Mapping):
        raise fail("effect", "effect must be a name or a table/object", '"effect": "silent"')
    kind = raw.get("kind")
    if kind not in EFFECT_PARAMETERS:
        raise fail("effect.kind", f"unknown effect {kind!r}", f"use one of: {', '.join(EFFECTS)}")
    params = {k: v for k, v in raw.items() if k != "kind"}
    unknown = sorted(set(params) - set(EFFECT_PARAMETERS[kind]))
    if unknown:
        allowed = ", ".join(EFFECT_PARAMETERS[kind]) or "no parameters"
        raise fail(f"effect.{unknown[0]}", f"{kind} has no parameter {unknown[0]!r}", allowed)
    if kind == "answer":
        overrides = params.get("overrides", {})
        if not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides):
            raise fail(
                "effect.overrides",
                "overrides must map field names to values",
                '"overrides": {"reply": "03"}',
            )
        return Answer(dict(overrides))
    if kind == "delay":
        if "seconds" in params:
            if "min" in params or "max" in params:
                raise fail("effect.seconds", "give seconds, or min and max, not both", "")
            return Delay(seconds=float(_number(params, "seconds", fail)))
        if "min" not in params or "max" not in params:
            raise fail(
                "effect.seconds",
                "a delay needs seconds, or min and max",
                '"seconds": 3600 or "min": 60, "max": 600',
            )
        lo, hi = float(_number(params, "min", fail)), float(_number(params, "max", fail))
        if lo > hi:
            raise fail("effect.min", f"min {lo} is above max {hi}", "swap them")
        return Delay(min=lo, max=hi)
    if kind == "refuse":
        x011, code = params.get("x011"), params.get("code")
        if (x011 is None) == (code is None):
            raise fail(
                "effect.x011",
                "refuse needs exactly one of x011 (a rejection reason) or code (a refusal code)",
                '"x011": "04" (content incorrect) or "code": "03"',
            )
        for key, value in (("x011", x011), ("code", code)):
            if value is not None and (not isinstance(value, str) or not value.isdigit()):
                raise fail(f"effect.{key}", f'{key} must be a code string like "04"', "")
        return Refuse(x011=x011, code=code)
    if kind == "duplicate":
        times = _number(params, "times", fail, whole=True) if "times" in params else 2
        if times < 2:
            raise fail("effect.times", "a duplicate sends at least 2 copies", '"times": 2')
        return Duplicate(times)
    if kind == "malformed":
        m = params.get("malformed", "truncated")
        if m not in MALFORMED_KINDS:
            raise fail("effect.malformed", f"unknown kind {m!r}", ", ".join(MALFORMED_KINDS))
        return Malformed(m)
    if kind == "wrong_version":
        version = params.get("version", "3.9")
        if not isinstance(version, str) or not version.replace(".", "").isdigit():
            raise fail("effect.version", 'version must be a string like "4.3"', "")
        return WrongVersion(version)
    if kind == "fail":
        times = _number(params, "times", fail, whole=True) if "times" in params else 1
        mode = params.get("mode", "http500")
        if mode not in FAIL_MODES:
            raise fail("effect.mode", f"unknown mode {mode!r}", ", ".join(FAIL_MODES))
        seconds = None
        if "seconds" in params:
            if mode != "timeout":
                raise fail("effect.seconds", "seconds applies to mode timeout only", "")
            seconds = float(_number(params, "seconds", fail))
        return Fail(times, mode, seconds)
    if kind == "send":
        return _parse_send(params, fail)
    if kind == "silent":
        return Silent()
    return Close()


def _parse_send(params: Mapping[str, Any], fail: Any) -> Send:
    invalid = params.get("invalid", False)
    if not isinstance(invalid, bool):
        raise fail("effect.invalid", "invalid must be true or false", '"invalid": true')
    template, file = params.get("template"), params.get("file")
    if (template is None) == (file is None):
        raise fail(
            "effect.template",
            "send needs exactly one of template (inline XML) or file (a path)",
            '"template": "<sed:S073 ...>...</sed:S073>" or "file": "odd-s073.xml"',
        )
    key = "effect.template" if file is None else "effect.file"
    if not isinstance(template if file is None else file, str) or not (template or file):
        raise fail(key, f"{key.split('.')[1]} must be a non-empty string", "")
    try:
        text = template if file is None else read_template(file)
        assert isinstance(text, str)
        sed = check_template(text, invalid=invalid, where=key)
    except ConfigError as exc:
        err = fail(key, exc.message, exc.hint or "")
        err.code = "mock.bad-template"  # well-formed rule, a template that is not a SED
        err.details.update(exc.details)
        raise err from None
    return Send(text, file, invalid, sed)


# --------------------------------------------------------------------------- evaluation


@quick_init
@dataclass(frozen=True, slots=True)
class Trigger:
    """What happened at the fund: a message for ``case`` of ``buc`` carrying a ``sed``."""

    fund: str
    case: str
    sed: str
    buc: str | None = None
    #: The message (or document) ID, so that a redelivery is not counted twice.
    message_id: str | None = None
    #: IR ID of the other institution.
    counterparty: str | None = None
    #: Who the case or document is about: PINs of the SED's person and the keys of the
    #: fund's records (``household/member``).
    persons: frozenset[str] = frozenset()
    #: The SED the fund reacts to (for ``xpath``); ``None``: not read (a delivery attempt).
    document: bytes | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """The answer to a delivery attempt: fail it (``effect``) or let it through (``None``)."""

    effect: Fail | None
    rule: str | None = None
    #: Which failing attempt this is (1-based), for logs.
    number: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class Reaction:
    """How the fund reacts to an accepted document."""

    effect: Effect
    #: The rule that decided (``None``: no rule, the BUC rules).
    rule: str | None = None
    #: For a delay: the seconds drawn.
    delay: float = 0.0
    #: Occurrence of this SED type in the case (1-based).
    occurrence: int = 1


_DEFAULT = Answer()


#: How many finished cases' per-case state a book keeps whole by default (D470): a case that
#: finished (closed, or its BUC's flow completed, at the fund's desk) keeps its counters while
#: it is among the fund's last ``KEEP_FINISHED`` finished cases, then they are dropped (what
#: arrived and what was sent stays in the journal).
KEEP_FINISHED: Final = 1000

#: Whether a case is finished at the fund's desk (``True``: closed or completed; ``False``:
#: open; ``None``: the desk does not know it), as :class:`Behaviours` asks it (D470).
FinishedCheck: TypeAlias = Callable[[str], bool | None]


@dataclass(slots=True)
class _CaseState:
    #: Occurrences seen per SED type, and the message IDs already counted.
    seen: dict[str, int] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    #: Failed attempts per fail rule.
    failures: dict[str, int] = field(default_factory=dict)


class Behaviours:
    """The rules of one fund and their per-case state (see the module docstring).

    **Per-case state is bounded** (D470): a case's counters live while the case is open; once
    ``finished`` (the fund's desk, asked through :attr:`finished`) says it is closed or
    completed, they move to a ring of the last ``keep_finished`` finished cases, oldest
    dropped first. A finished case that sees another document (a reminder, a closing X001)
    keeps counting from its state while it is in the ring, and becomes the ring's newest; one
    dropped from the ring counts afresh. A case named by a rule keeps its state while the rule
    is there. Each case that gets state checks up to two of the oldest open ones (a case that
    finished without the fund answering: the peer closed it), so what the book holds stays
    near the number of open cases plus ``keep_finished``.
    """

    def __init__(
        self,
        fund: str,
        rules: Iterable[Rule] = (),
        *,
        rng: random.Random | None = None,
        keep_finished: int = KEEP_FINISHED,
        finished: FinishedCheck | None = None,
    ) -> None:
        if keep_finished < 0:
            raise ValueError("keep_finished must be >= 0")
        self.fund = fund
        self.rng = rng if rng is not None else random.Random(0)
        self._rng_start = self.rng.getstate()
        self._defaults: tuple[Rule, ...] = tuple(rules)
        self._rules: list[Rule] = list(self._defaults)
        #: Open cases' state (or not known to be finished), oldest first.
        self._cases: dict[str, _CaseState] = {}
        #: Finished cases' state, oldest first, at most ``keep_finished``.
        self._finished: dict[str, _CaseState] = {}
        self.keep_finished = keep_finished
        #: Asks the fund's desk whether a case is finished; ``None``: nothing ever finishes
        #: (a book without a desk keeps every case's state, as before D470).
        self.finished = finished
        self._serial = 0
        for rule in self._defaults:
            self._bump(rule.id)
        self._may_fail = self._reads_documents = False
        self._named: frozenset[str] = frozenset()
        self._changed()

    def _changed(self) -> None:
        """The rules changed: what every message asks of them, worked out again (D404)."""
        self._may_fail = any(isinstance(r.effect, Fail) for r in self._rules)
        self._reads_documents = any(
            r.match.person is not None or r.match.xpath is not None for r in self._rules
        )
        self._named = frozenset(r.match.case for r in self._rules if r.match.case is not None)

    # ---- the rules

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def add(self, rule: Rule) -> Rule:
        """Add ``rule`` (replacing a rule with the same ID); it wins ties against older ones."""
        if any(r.id == rule.id for r in self._rules):
            self._rules = [r for r in self._rules if r.id != rule.id]
        self._rules.append(rule)
        self._bump(rule.id)
        self._changed()
        return rule

    def _bump(self, rule_id: str) -> None:
        serial = rule_id.removeprefix("rule-")
        if serial.isdigit():  # a restored rule-N: the next new ID comes after it
            self._serial = max(self._serial, int(serial))

    @property
    def may_fail(self) -> bool:
        """Whether a ``fail`` rule is in the book (without one every delivery goes through:
        :meth:`on_attempt` need not be asked)."""
        return self._may_fail

    @property
    def reads_documents(self) -> bool:
        """Whether a rule matches on a person or an XPath (the trigger must carry them)."""
        return self._reads_documents

    def next_id(self) -> str:
        self._serial += 1
        return f"rule-{self._serial}"

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        self._changed()
        return len(self._rules) != before

    def reset_case(self, case: str) -> None:
        """Forget the case: its rules and its counters (other cases keep theirs)."""
        self._rules = [r for r in self._rules if r.match.case != case]
        self._cases.pop(case, None)
        self._finished.pop(case, None)
        self._changed()

    def reset(self) -> None:
        """Back to the profile: its rules only, no per-case state, the RNG (random delays)
        and the numbering of new rules (``rule-1``...) where they started."""
        self._rules = list(self._defaults)
        self._changed()
        self._cases.clear()
        self._finished.clear()
        self.rng.setstate(self._rng_start)
        self._serial = 0
        for rule in self._defaults:  # a profile's own rule-N: new IDs come after it
            self._bump(rule.id)

    def cases(self) -> tuple[str, ...]:
        """Cases with per-case state or rules, sorted (a finished case's state only while it
        is among the last ``keep_finished`` finished ones)."""
        return tuple(sorted(set(self._cases) | set(self._finished) | self._named))

    @property
    def held(self) -> tuple[int, int]:
        """How many cases' state the book holds: (open, finished)."""
        return len(self._cases), len(self._finished)

    def state(self, case: str) -> dict[str, Any]:
        """The per-case counters (for the admin API)."""
        cs = self._state(case)
        if cs is None:
            return {"case": case, "seen": {}, "failures": {}}
        return {"case": case, "seen": dict(cs.seen), "failures": dict(cs.failures)}

    # ---- per-case state, bounded (D470)

    def _state(self, case: str) -> _CaseState | None:
        cs = self._cases.get(case)
        return cs if cs is not None else self._finished.get(case)

    def _new_state(self, case: str, cs: _CaseState | None = None) -> _CaseState:
        """A new open case's state (``cs``, or a fresh one); two of the oldest open cases are
        checked first."""
        if self.finished is not None and self._cases:
            self._sweep(self.finished)
        cs = self._cases[case] = cs if cs is not None else _CaseState()
        return cs

    def _sweep(self, finished: FinishedCheck) -> None:
        cases = self._cases
        for _ in range(min(2, len(cases))):
            case = next(iter(cases))
            cs = cases.pop(case)
            done = finished(case) if case not in self._named else False
            # The desk does not know a case it answered in: forgotten, so finished. One with
            # failed attempts only may still be delivered: open.
            if done or (done is None and cs.seen):
                self._retire(case, cs)
            else:
                cases[case] = cs  # to the end: checked again after the others

    def _retire(self, case: str, cs: _CaseState) -> None:
        """``case`` finished: its state becomes the ring's newest; the oldest beyond
        ``keep_finished`` is dropped."""
        ring = self._finished
        ring.pop(case, None)
        ring[case] = cs
        if len(ring) > self.keep_finished:
            del ring[next(iter(ring))]

    def _place(self, case: str, cs: _CaseState, new: bool, finished: bool | None) -> None:
        """After a document of ``case`` was answered: where its state belongs now
        (``finished``: what the caller knows of the case at the desk; ``None``: ask)."""
        ask = self.finished
        if case in self._named:
            finished = False  # a rule names it: its state stays
        elif finished is None and ask is not None:
            finished = ask(case)
        if finished:
            if not new:
                self._cases.pop(case, None)
            self._retire(case, cs)
        elif new:
            self._new_state(case, cs)
        elif finished is not None and case in self._finished:
            del self._finished[case]  # open again (an invalidation undid its completion)
            self._cases[case] = cs

    # ---- evaluation

    def _best(self, t: Trigger, occurrence: int, *, transport: bool) -> Rule | None:
        best: Rule | None = None
        for rule in self._rules:  # later rules win ties: >=
            if isinstance(rule.effect, Fail) != transport:
                continue
            if not rule.match.matches(t, occurrence):
                continue
            if best is None or rule.match.specificity >= best.match.specificity:
                best = rule
        return best

    def on_attempt(self, t: Trigger) -> Attempt:
        """A delivery attempt arrived; fail it while a ``fail`` rule has failures left. A case
        gets per-case state only when an attempt of it fails (an attempt that goes through
        leaves nothing behind: one per delivered case would only grow the book)."""
        cs = self._state(t.case)
        occurrence = (cs.seen.get(t.sed, 0) if cs is not None else 0) + 1
        candidates = sorted(
            (
                (r.match.specificity, i, r)
                for i, r in enumerate(self._rules)
                if isinstance(r.effect, Fail) and r.match.matches(t, occurrence)
            ),
            key=lambda c: (c[0], c[1]),
            reverse=True,
        )
        for _, _, rule in candidates:  # the most specific rule with failures left decides
            assert isinstance(rule.effect, Fail)
            done = cs.failures.get(rule.id, 0) if cs is not None else 0
            if done < rule.effect.times:
                if cs is None:
                    cs = self._new_state(t.case)
                cs.failures[rule.id] = done + 1
                return Attempt(rule.effect, rule.id, done + 1)
        return Attempt(None)

    def on_document(self, t: Trigger, *, finished: bool | None = None) -> Reaction:
        """An accepted document is to be answered: how? (Counts its occurrence once per
        message ID.) ``finished``: whether the case is finished at the fund's desk after this
        step, if the caller knows (else the book asks :attr:`finished`)."""
        case = t.case
        cs = self._state(case)
        new = cs is None
        if cs is None:
            cs = _CaseState()
        key = t.message_id
        if key is None or key not in cs.counted:
            cs.seen[t.sed] = cs.seen.get(t.sed, 0) + 1
            if key is not None:
                cs.counted.add(key)
        occurrence = cs.seen[t.sed]
        self._place(case, cs, new, finished)
        rule = self._best(t, occurrence, transport=False)
        if rule is None:
            return Reaction(_DEFAULT, None, 0.0, occurrence)
        delay = rule.effect.draw(self.rng) if isinstance(rule.effect, Delay) else 0.0
        return Reaction(rule.effect, rule.id, delay, occurrence)
