"""The scenario file format (TOML): what a scenario says, and its loader with clear errors.

A scenario is one situation of ``domain.md`` played on the embedded network: the household, the
institutions and how the mock funds behave, the steps in order (who starts what, documents
provided, the clock moving), and what must come out (documents exchanged in order, each member's
outcome and the rules that decided it, final case states). The user guide is
``docs/scenario-format.md``; this module is its reference implementation.

Every value is checked here, before anything runs, and an error names the file, the key (a
path such as ``step[3].member``) and what to write instead (:class:`~eessi.errors.ConfigError`,
code ``scenario.*``).

The shipped scenarios are package data (``eessi/scenario/data/*.toml``): one place resolves
them, :func:`shipped_scenarios_dir`, so they are found after a non-editable install too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from eessi.clock import after
from eessi.core.facts import DocumentKind
from eessi.core.household import Household
from eessi.core.household_json import loads_household, parse_household
from eessi.core.messages import Channel
from eessi.core.supplementary import Audience, Category
from eessi.errors import ConfigError, EessiError
from eessi.mock.behaviour import Rule, parse_rule
from eessi.sed.catalogue import BUCS, SEDS

__all__ = [
    "ACTIONS",
    "CNS_ID",
    "FORMAT_VERSION",
    "OUTCOMES",
    "CaseExpectation",
    "Expectations",
    "MemberExpectation",
    "MessageExpectation",
    "Scenario",
    "ScenarioStep",
    "SupplementaryExpectation",
    "find_scenario",
    "load_scenario",
    "parse_scenario",
    "shipped_scenarios",
    "shipped_scenarios_dir",
]

FORMAT_VERSION: Final = 1
CNS_ID: Final = "LU:CNS00001"

Action: TypeAlias = Literal[
    "request-entitlement",
    "co-insurance-request",
    "provide-documents",
    "service-decision",
    "withdraw-entitlement",
    "issue-entitlement",
    "register",
    "reject",
    "invalidate",
    "clarify",
    "close",
    "advance-clock",
    "tick",
    "supplementary-enrolment",
    "supplementary-claim",
]

#: Every ``do`` of a step, with the keys it takes (required ones first, then optional ones).
ACTIONS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "request-entitlement": (("by", "member"), ("to", "start")),
    "co-insurance-request": (("member",), ("main", "channel")),
    "provide-documents": (("member", "documents"), ("main",)),
    "service-decision": (("member", "approved"), ("main", "kind")),
    "withdraw-entitlement": (("member",), ("reason",)),
    "issue-entitlement": (("member",), ("to",)),
    "register": (("by", "member"), ()),
    "reject": (("by", "member"), ("sed",)),
    "invalidate": (("by", "member", "sed"), ()),
    "clarify": (("by", "member"), ("sed", "question")),
    "close": (("by", "member"), ()),
    "advance-clock": ((), ("period", "days", "hours", "minutes", "seconds")),
    "tick": ((), ("at",)),
    "supplementary-enrolment": (("insurer", "member"), ("audience", "product")),
    "supplementary-claim": (("insurer", "member", "category", "cost", "cns_reimbursed"), ()),
}

#: What a member's ``outcome`` may be expected to be.
OUTCOMES: Final = ("registered", "eligible", "not_eligible", "pending", "none")

_TOP = ("format", "scenario", "household", "mock", "step", "expect")
_HEAD = ("name", "title", "description", "rules", "start", "seed", "institutions", "household")
_EXPECT = ("messages", "order", "members", "case", "supplementary")
_MESSAGE = ("flow", "status", "version", "xpath", "note", "attempts", "duplicates")
_MEMBER = ("outcome", "rules", "main_insured", "start", "missing")
_CASE = ("at", "member", "buc", "state")
_SUPPLEMENTARY = ("accepted", "rules", "reimbursable_from", "product", "paid")
_COMMON_STEP = ("do", "title", "expect")


@dataclass(frozen=True, slots=True)
class ScenarioStep:
    """One step: ``do`` an action with its parameters (see :data:`ACTIONS`)."""

    index: int
    do: str
    params: Mapping[str, Any]
    title: str
    #: Checked right after the step: ``messages`` are the documents that moved during it.
    expect: Expectations | None = None

    def describe(self) -> str:
        return self.title


@dataclass(frozen=True, slots=True)
class MessageExpectation:
    """One document expected to travel: ``"FR:CPAM5701 -> LU:CNS00001 S071"``."""

    sender: str
    receiver: str
    sed: str
    #: The receiver's status (``processed``, ``rejected``...) or the sender's (``failed``).
    status: str | None = None
    version: str | None = None
    #: XPath assertions on the document (each must hold; prefix-insensitive).
    xpaths: tuple[str, ...] = ()
    note: str = ""
    #: Delivery attempts of the sender (``3``: two failures, then the receipt).
    attempts: int | None = None
    #: Copies with the same MessageId the receiver dropped.
    duplicates: int | None = None

    @property
    def flow(self) -> str:
        return f"{self.sender} -> {self.receiver} {self.sed}"

    def describe(self) -> str:
        extra = [f"status {self.status}"] if self.status else []
        if self.version:
            extra.append(f"version {self.version}")
        if self.attempts is not None:
            extra.append(f"{self.attempts} attempt(s)")
        if self.duplicates is not None:
            extra.append(f"{self.duplicates} duplicate(s)")
        extra += [f"xpath {x}" for x in self.xpaths]
        return self.flow + (f" ({'; '.join(extra)})" if extra else "")


@dataclass(frozen=True, slots=True)
class MemberExpectation:
    """What must be decided for one family member (the CNS's view)."""

    member: str
    outcome: str | None = None
    #: Rules that must be cited by the member's last decision (others may be cited too).
    rules: tuple[str, ...] = ()
    main_insured: str | None = None
    start: date | None = None
    #: Document kinds the decision must still be waiting for.
    missing: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CaseExpectation:
    """The final state of the case(s) about ``member`` at institution ``at``."""

    at: str
    member: str
    state: str
    buc: str | None = None


@dataclass(frozen=True, slots=True)
class SupplementaryExpectation:
    """The outcome of a ``supplementary-enrolment`` step for ``member``."""

    member: str
    accepted: bool | None = None
    #: Rules cited by the enrolment and the member's claims (S1-S4).
    rules: tuple[str, ...] = ()
    reimbursable_from: date | None = None
    #: The product enrolled in.
    product: str | None = None
    #: What each ``supplementary-claim`` step paid, in order (``"144.00"``).
    paid: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Expectations:
    messages: tuple[MessageExpectation, ...] | None = None
    #: ``exact``: exactly these messages, in this order; ``in-order``: these, in this order,
    #: others may travel in between.
    order: Literal["exact", "in-order"] = "exact"
    members: tuple[MemberExpectation, ...] = ()
    cases: tuple[CaseExpectation, ...] = ()
    supplementary: tuple[SupplementaryExpectation, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario file."""

    name: str
    title: str
    description: str
    rules: tuple[str, ...]
    household: Household
    institutions: tuple[str, ...]
    behaviours: Mapping[str, tuple[Rule, ...]]
    steps: tuple[ScenarioStep, ...]
    expect: Expectations
    start: datetime
    seed: int = 0
    source: str = "<scenario>"
    extra: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- where they are


def shipped_scenarios_dir() -> Path:
    """The scenarios that ship with eessi-sim: the one place that resolves them."""
    return Path(__file__).resolve().parent / "data"


def shipped_scenarios() -> list[Path]:
    """Every shipped scenario file, sorted by name."""
    return sorted(shipped_scenarios_dir().glob("*.toml"))


def find_scenario(name_or_path: str | Path) -> Path:
    """A scenario file: an existing path, or the name of a shipped one (``r17-family-abroad``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_scenarios_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = ", ".join(p.stem for p in shipped_scenarios())
    raise ConfigError(
        f"no scenario file or shipped scenario named {str(name_or_path)!r}",
        code="scenario.not-found",
        where=str(name_or_path),
        hint=f"give a path to a .toml file, or one of: {names}",
    )


# --------------------------------------------------------------------------- loading


def load_scenario(path: str | Path) -> Scenario:
    """Read and check one scenario file (a household path inside is relative to the file)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the scenario file: {exc.strerror or exc}",
            code="scenario.unreadable",
            where=str(p),
            hint="check the path (eessi scenario list shows the shipped ones)",
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the scenario file is not UTF-8 text (byte {exc.start})",
            code="scenario.toml",
            where=str(p),
            hint="save it as UTF-8 (TOML requires it)",
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"not valid TOML: {exc}",
            code="scenario.toml",
            where=str(p),
            hint="fix the TOML syntax (quotes, brackets, one key per line)",
        ) from None
    return parse_scenario(doc, source=str(p), base=p.parent)


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str, hint: str) -> ConfigError:
        return ConfigError(
            message,
            code="scenario.invalid",
            where=f"{self.source}, key {key}",
            hint=hint,
            details={"file": self.source, "key": key},
        )

    def table(self, raw: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise self.fail(key, f"{key} must be a table", f"write [{key}] with its keys")
        return raw

    def known(self, raw: Mapping[str, Any], key: str, allowed: Sequence[str]) -> None:
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            raise self.fail(
                where, f"unknown key {unknown[0]!r}", f"allowed here: {', '.join(allowed)}"
            )

    def text(self, raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> Any:
        value = raw.get(key)
        if value is None:
            if required:
                raise self.fail(f"{where}.{key}", f"{where}.{key} is missing", f"add {key} = ...")
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(
                f"{where}.{key}", f"{where}.{key} must be a non-empty string", f'{key} = "..."'
            )
        return value

    def strings(self, raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(
                f"{where}.{key}", f"{where}.{key} must be a list of strings", f'{key} = ["..."]'
            )
        return tuple(value)


def parse_scenario(
    doc: Mapping[str, Any], *, source: str = "<scenario>", base: Path | None = None
) -> Scenario:
    """Check a decoded scenario document and build the :class:`Scenario`."""
    c = _Ctx(source)
    c.known(doc, "", _TOP)
    fmt = doc.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise c.fail("format", f"unsupported format {fmt!r}", f"write format = {FORMAT_VERSION}")
    head = c.table(doc.get("scenario"), "scenario")
    c.known(head, "scenario", _HEAD)
    name = c.text(head, "name", "scenario")
    rules = c.strings(head, "rules", "scenario")
    if "household" in head and "household" in doc:
        raise c.fail("scenario.household", "two households", "give one: a path or a table")
    household, on = _household(c, doc.get("household", head.get("household")), base)
    start = _start(c, head.get("start"), on)
    seed = head.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise c.fail("scenario.seed", "seed must be a whole number >= 0", "seed = 17")
    behaviours = _mocks(c, doc.get("mock", []))
    steps = _steps(c, doc.get("step", []), household)
    expect = _expect(c, doc.get("expect", {}), household)
    institutions = _institutions(c, head, behaviours, steps, expect)
    return Scenario(
        name=name,
        title=c.text(head, "title", "scenario", required=False) or name,
        description=(c.text(head, "description", "scenario", required=False) or "").strip(),
        rules=rules,
        household=household,
        institutions=institutions,
        behaviours=behaviours,
        steps=steps,
        expect=expect,
        start=start,
        seed=seed,
        source=source,
    )


def _plain(value: Any) -> Any:
    """TOML values as the household JSON reader expects them (dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _household(c: _Ctx, raw: Any, base: Path | None) -> tuple[Household, date | None]:
    if raw is None:
        raise c.fail(
            "household",
            "the scenario has no household",
            'write household = "file.json" or a [household] table (docs/household-format.md)',
        )
    try:
        if isinstance(raw, str):
            path = Path(raw)
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.is_file():
                from eessi.node.households import default_households_dir

                fallback = default_households_dir() / raw
                if not fallback.is_file():
                    raise c.fail(
                        "household",
                        f"no household file at {path}",
                        "give a path relative to the scenario file, or an inline [household]",
                    )
                path = fallback
            hf = loads_household(path.read_text(encoding="utf-8"), source=str(path))
        elif isinstance(raw, Mapping):
            data = {"format": "eessi-household/1", **_plain(raw)}
            hf = parse_household(data, source=f"{c.source} [household]")
        else:
            raise c.fail("household", "household must be a path or a table", "see the guide")
    except ConfigError:
        raise
    except EessiError as exc:
        raise c.fail("household", f"the household is not valid: {exc}", "fix it") from exc
    if not hf.household.id:
        raise c.fail("household.id", "the household needs an id", 'id = "martin-thionville"')
    return hf.household, hf.on


def _start(c: _Ctx, raw: Any, on: date | None) -> datetime:
    if raw is None:
        day = on or date(2026, 3, 2)
        return datetime.combine(day, time(9, 0), tzinfo=UTC)
    if isinstance(raw, datetime):
        return raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime.combine(raw, time(9, 0), tzinfo=UTC)
    raise c.fail(
        "scenario.start", "start must be a TOML date or date-time", "start = 2026-04-15T09:00:00Z"
    )


def _mocks(c: _Ctx, raw: Any) -> dict[str, tuple[Rule, ...]]:
    if not isinstance(raw, list):
        raise c.fail("mock", "mock must be an array of tables", "write [[mock]] fund = ...")
    out: dict[str, tuple[Rule, ...]] = {}
    for i, item in enumerate(raw, start=1):
        where = f"mock[{i}]"
        t = c.table(item, where)
        c.known(t, where, ("fund", "rule"))
        fund = c.text(t, "fund", where)
        rules_raw = t.get("rule", [])
        if not isinstance(rules_raw, list):
            raise c.fail(f"{where}.rule", "rule must be an array of tables", "[[mock.rule]]")
        rules = tuple(
            parse_rule(
                r,
                where=f"{c.source}, {where}.rule[{j}]",
                origin="scenario",
                default_id=f"scenario-{i}-{j}",
            )
            for j, r in enumerate(rules_raw, start=1)
        )
        out[fund] = out.get(fund, ()) + rules
    return out


def _member_ids(household: Household) -> set[str]:
    return {m.id for m in household.members}


def _check_member(
    c: _Ctx, household: Household, member: str, key: str, *, main: bool = False
) -> None:
    """``member`` is a family member's id (or, with ``main``, also a main insured's id)."""
    ids = _member_ids(household) | ({m.id for m in household.main_insured} if main else set())
    if not isinstance(member, str) or member not in ids:  # a table or a list: not an id either
        what = "a member or main insured" if main else "a member"
        raise c.fail(
            key,
            f"{member!r} is not {what} of household {household.id!r}",
            f"ids: {', '.join(sorted(ids))}",
        )


def _steps(c: _Ctx, raw: Any, household: Household) -> tuple[ScenarioStep, ...]:
    if not isinstance(raw, list):
        raise c.fail("step", "step must be an array of tables", "write [[step]] do = ...")
    steps: list[ScenarioStep] = []
    for i, item in enumerate(raw, start=1):
        where = f"step[{i}]"
        t = c.table(item, where)
        do = c.text(t, "do", where)
        if do not in ACTIONS:
            raise c.fail(f"{where}.do", f"unknown action {do!r}", f"one of: {', '.join(ACTIONS)}")
        required, optional = ACTIONS[do]
        c.known(t, where, (*_COMMON_STEP, *required, *optional))
        for key in required:
            if key not in t:
                raise c.fail(f"{where}.{key}", f"{do} needs {key}", f"add {key} = ...")
        params = {k: v for k, v in t.items() if k not in _COMMON_STEP}
        _check_step(c, where, do, params, household)
        title = c.text(t, "title", where, required=False) or _default_title(do, params)
        expect = _expect(c, t["expect"], household, f"{where}.expect") if "expect" in t else None
        steps.append(ScenarioStep(i, do, params, title, expect))
    return tuple(steps)


def _check_step(c: _Ctx, where: str, do: str, params: dict[str, Any], household: Household) -> None:
    if "member" in params:
        # The CNS sends an S072 unasked for the main insured too (S_BUC_01A): those steps may
        # name him.
        main = do not in ("co-insurance-request", "provide-documents", "service-decision")
        _check_member(c, household, params["member"], f"{where}.member", main=main)
    mains = {m.id for m in household.main_insured}
    if "main" in params and params["main"] not in mains:
        raise c.fail(f"{where}.main", f"{params['main']!r} is not a main insured", str(mains))
    if "documents" in params:
        docs = params["documents"]
        kinds = [k.value for k in DocumentKind]
        if not isinstance(docs, list) or not docs or any(d not in kinds for d in docs):
            raise c.fail(
                f"{where}.documents",
                "documents must be a non-empty list of document kinds",
                f"kinds: {', '.join(kinds)}",
            )
    if "channel" in params and params["channel"] not in [ch.value for ch in Channel]:
        raise c.fail(f"{where}.channel", "unknown channel", "phone, email or form")
    if "approved" in params and not isinstance(params["approved"], bool):
        raise c.fail(f"{where}.approved", "approved must be true or false", "approved = true")
    if "kind" in params and params["kind"] not in ("cns_service_decision", "cns_authorisation"):
        raise c.fail(f"{where}.kind", "unknown decision kind", "cns_service_decision or ...")
    if "sed" in params and params["sed"] not in SEDS:
        raise c.fail(f"{where}.sed", f"unknown SED type {params['sed']!r}", 'sed = "S072"')
    if "audience" in params and params["audience"] not in [a.value for a in Audience]:
        raise c.fail(
            f"{where}.audience",
            "unknown audience",
            f"one of: {', '.join(a.value for a in Audience)}",
        )
    if do == "advance-clock":
        amounts = [params.get(k, 0) for k in ("days", "hours", "minutes", "seconds")]
        if any(isinstance(a, bool) or not isinstance(a, int | float) or a < 0 for a in amounts):
            raise c.fail(f"{where}.days", "clock amounts must be numbers >= 0", "days = 61")
        try:  # inf, nan, or more days than a date holds
            clock_delta({k: v for k, v in params.items() if k != "period"})
        except (OverflowError, ValueError):
            raise c.fail(
                f"{where}.days",
                "clock amounts must be finite and under 999,999,999 days in all",
                "days = 61",
            ) from None
        if "period" in params:
            try:
                after(datetime(2000, 1, 1, tzinfo=UTC), params["period"])
            except (ValueError, TypeError, AttributeError) as exc:
                hint = 'an ISO 8601 duration: "P6M", "P1Y", "P90D", "PT12H"'
                raise c.fail(f"{where}.period", str(exc), hint) from None
        elif not any(amounts):
            raise c.fail(f"{where}.days", "advance-clock needs an amount", 'period = "P6M"')
    if "category" in params and params["category"] not in [k.value for k in Category]:
        raise c.fail(
            f"{where}.category",
            f"unknown category {params['category']!r}",
            f"one of: {', '.join(k.value for k in Category)}",
        )
    for key in ("cost", "cns_reimbursed"):
        if key in params and _amount(params[key]) is None:
            raise c.fail(f"{where}.{key}", f"{key} must be an amount >= 0", f'{key} = "120.00"')
    if "product" in params and (not isinstance(params["product"], str) or not params["product"]):
        raise c.fail(f"{where}.product", "product is a product id", 'product = "optimum"')
    if "start" in params and not isinstance(params["start"], date):
        raise c.fail(f"{where}.start", "start must be a TOML date", "start = 2026-04-01")
    if "at" in params and (
        not isinstance(params["at"], list) or not all(isinstance(a, str) for a in params["at"])
    ):
        raise c.fail(f"{where}.at", "at must be a list of institution IDs", 'at = ["LU:CNS00001"]')


def clock_delta(params: Mapping[str, Any], now: datetime | None = None) -> timedelta:
    """How far an ``advance-clock`` step moves the clock from ``now``: its ``period`` the
    calendar way (``P1M`` from 31 January ends on the last day of February), then the rest."""
    delta = timedelta(
        days=params.get("days", 0),
        hours=params.get("hours", 0),
        minutes=params.get("minutes", 0),
        seconds=params.get("seconds", 0),
    )
    if "period" in params:  # the one ISO 8601 reading that POST /api/clock uses too
        start = now or datetime(2000, 1, 1, tzinfo=UTC)
        delta += after(start, params["period"]) - start
    return delta


def _amount(value: Any) -> Decimal | None:
    """A TOML amount of euros (a string or a number), or None when it is not one >= 0."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _default_title(do: str, p: Mapping[str, Any]) -> str:
    m = p.get("member", "")
    if do == "request-entitlement":
        return f"{p['by']} asks {p.get('to', 'the CNS')} for the S072 of {m} (S071)"
    if do == "co-insurance-request":
        return f"the main insured asks the CNS to co-insure {m}"
    if do == "provide-documents":
        return f"the main insured provides {', '.join(p['documents'])} for {m}"
    if do == "service-decision":
        verdict = "approves" if p["approved"] else "refuses"
        return f"the CNS service {verdict} {m} ({p.get('kind', 'cns_service_decision')})"
    if do == "withdraw-entitlement":
        return f"the CNS withdraws the S072 of {m} (X008)"
    if do == "issue-entitlement":
        to = p.get("to", "the fund of residence")
        return f"the CNS sends the S072 of {m} unasked to {to} (S_BUC_01A)"
    if do in ("register", "reject", "invalidate", "clarify", "close"):
        sed = f" {p['sed']}" if "sed" in p else ""
        return f"{p['by']}: {do}{sed} in the case of {m}"
    if do == "advance-clock" and "period" in p:
        return f"the clock moves {p['period']}" + (
            f" and {clock_delta({**p, 'period': 'P0D'})}" if set(p) - {"period"} else ""
        )
    if do == "advance-clock":
        d = clock_delta(p)
        return f"the clock moves {d.days} day(s)" + (f" {d.seconds} s" if d.seconds else "")
    if do == "tick":
        return "the institutions look at the time (reminders)"
    if do == "supplementary-claim":
        return (
            f"{m} claims {p['category']} from {p['insurer']}: cost {p['cost']},"
            f" CNS reimbursed {p['cns_reimbursed']}"
        )
    product = f", product {p['product']}" if "product" in p else ""
    return f"{p['insurer']} enrols {m} ({p.get('audience', 'resident')}{product})"


def _flow(c: _Ctx, text: str, key: str) -> tuple[str, str, str]:
    parts = text.replace("->", " -> ").split()
    if len(parts) != 4 or parts[1] != "->":
        raise c.fail(
            key,
            f"cannot read the message {text!r}",
            'write "SENDER -> RECEIVER SED", e.g. "FR:CPAM5701 -> LU:CNS00001 S071"',
        )
    sender, _, receiver, sed = parts
    if sed not in SEDS:
        raise c.fail(key, f"unknown SED type {sed!r}", f"known: {', '.join(sorted(SEDS))}")
    return sender, receiver, sed


def _expect(c: _Ctx, raw: Any, household: Household, at: str = "expect") -> Expectations:
    t = c.table(raw, at)
    c.known(t, at, _EXPECT)
    messages: tuple[MessageExpectation, ...] | None = None
    if "messages" in t:
        items = t["messages"]
        if not isinstance(items, list):
            raise c.fail(f"{at}.messages", "messages must be a list", '["A -> B S071", ...]')
        out: list[MessageExpectation] = []
        for i, item in enumerate(items, start=1):
            key = f"{at}.messages[{i}]"
            if isinstance(item, str):
                out.append(MessageExpectation(*_flow(c, item, key)))
                continue
            m = c.table(item, key)
            c.known(m, key, _MESSAGE)
            sender, receiver, sed = _flow(c, c.text(m, "flow", key), f"{key}.flow")
            xp = m.get("xpath", [])
            xpaths = (xp,) if isinstance(xp, str) else tuple(xp)
            if not all(isinstance(x, str) and x for x in xpaths):
                raise c.fail(f"{key}.xpath", "xpath must be a string or a list", "")
            from eessi.mock.journal_query import compile_xpath

            for x in xpaths:
                try:
                    compile_xpath(x)
                except EessiError as exc:
                    raise c.fail(f"{key}.xpath", f"bad XPath {x!r}: {exc}", "fix it") from None
            counts: dict[str, int | None] = {}
            for name in ("attempts", "duplicates"):
                value = m.get(name)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 0
                ):
                    raise c.fail(f"{key}.{name}", f"{name} must be a whole number >= 0", "")
                counts[name] = value
            out.append(
                MessageExpectation(
                    sender,
                    receiver,
                    sed,
                    attempts=counts["attempts"],
                    duplicates=counts["duplicates"],
                    status=c.text(m, "status", key, required=False),
                    version=c.text(m, "version", key, required=False),
                    xpaths=xpaths,
                    note=c.text(m, "note", key, required=False) or "",
                )
            )
        messages = tuple(out)
    order = t.get("order", "exact")
    if order not in ("exact", "in-order"):
        raise c.fail(f"{at}.order", f"unknown order {order!r}", '"exact" or "in-order"')
    members: list[MemberExpectation] = []
    for member, m in c.table(t.get("members", {}), f"{at}.members").items():
        key = f"{at}.members.{member}"
        _check_member(c, household, member, key)
        m = c.table(m, key)
        c.known(m, key, _MEMBER)
        outcome = m.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise c.fail(f"{key}.outcome", f"unknown outcome {outcome!r}", ", ".join(OUTCOMES))
        start = m.get("start")
        if start is not None and not isinstance(start, date):
            raise c.fail(f"{key}.start", "start must be a TOML date", "start = 2026-04-01")
        missing = c.strings(m, "missing", key) if "missing" in m else None
        members.append(
            MemberExpectation(
                member,
                outcome,
                c.strings(m, "rules", key),
                c.text(m, "main_insured", key, required=False),
                start,
                missing,
            )
        )
    cases: list[CaseExpectation] = []
    raw_cases = t.get("case", [])
    if not isinstance(raw_cases, list):
        raise c.fail(f"{at}.case", "case must be an array of tables", "[[expect.case]]")
    for i, item in enumerate(raw_cases, start=1):
        key = f"{at}.case[{i}]"
        m = c.table(item, key)
        c.known(m, key, _CASE)
        member = c.text(m, "member", key)
        _check_member(c, household, member, f"{key}.member", main=True)
        buc = c.text(m, "buc", key, required=False)
        if buc is not None and buc not in BUCS:
            raise c.fail(f"{key}.buc", f"unknown BUC {buc!r}", ", ".join(BUCS))
        cases.append(CaseExpectation(c.text(m, "at", key), member, c.text(m, "state", key), buc))
    supp: list[SupplementaryExpectation] = []
    for member, m in c.table(t.get("supplementary", {}), f"{at}.supplementary").items():
        key = f"{at}.supplementary.{member}"
        _check_member(c, household, member, key, main=True)
        m = c.table(m, key)
        c.known(m, key, _SUPPLEMENTARY)
        accepted = m.get("accepted")
        if accepted is not None and not isinstance(accepted, bool):
            raise c.fail(f"{key}.accepted", "accepted must be true or false", "accepted = true")
        rf = m.get("reimbursable_from")
        if rf is not None and not isinstance(rf, date):
            raise c.fail(f"{key}.reimbursable_from", "must be a TOML date", "2026-07-01")
        product = c.text(m, "product", key, required=False)
        paid = None
        if "paid" in m:
            paid = c.strings(m, "paid", key)
            if not all(_amount(a) is not None for a in paid):
                raise c.fail(f"{key}.paid", "paid is a list of amounts", 'paid = ["144.00"]')
            paid = tuple(str(_amount(a)) for a in paid)
        supp.append(
            SupplementaryExpectation(
                member, accepted, c.strings(m, "rules", key), rf, product, paid
            )
        )
    return Expectations(messages, order, tuple(members), tuple(cases), tuple(supp))


def _institutions(
    c: _Ctx,
    head: Mapping[str, Any],
    behaviours: Mapping[str, Any],
    steps: Sequence[ScenarioStep],
    expect: Expectations,
) -> tuple[str, ...]:
    if "institutions" in head:
        ids = c.strings(head, "institutions", "scenario")
        if CNS_ID not in ids:
            ids = (CNS_ID, *ids)
        return tuple(dict.fromkeys(ids))
    found: list[str] = [CNS_ID, *behaviours]
    for s in steps:
        for key in ("by", "to"):
            if isinstance(s.params.get(key), str):
                found.append(s.params[key])
    for m in expect.messages or ():
        found += [m.sender, m.receiver]
    found += [ce.at for ce in expect.cases]
    return tuple(dict.fromkeys(found))
