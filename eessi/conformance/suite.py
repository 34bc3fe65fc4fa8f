"""Reading conformance suites: TOML files shipped in the package (``eessi/conformance/data``).

The format (``docs/conformance.md``)::

    format = 1
    [suite]
    role = "cns"                      # the role the SUT plays: cns | fund
    sut = "LU:CNS00001"               # the IR ID it plays
    title = "..."
    start = 2026-04-15T09:00:00Z      # the virtual clock's start
    households = ["households/conformance-pt.json"]
    peers = ["PT:ISS00001", "FR:CPAM5701"]

    [[case]]
    id = "CNS-R17-01"
    title = "..."
    covers = ["R17", "R2", "S_BUC_01"]
    peer = "PT:ISS00001"
    person = "conformance-pt/maria"
    needs = ["clock"]                 # optional: clock, requests
    [[case.rule]]                     # a mock rule of ``peer`` (or ``fund = ...``) for the case
    match = { sed = "S072" }
    effect = "silent"
    [[case.step]]
    do = "request"
    kind = "request_entitlement"
    person = "{person}"

Each step is ``do`` plus its keys (:data:`STEP_KINDS`). A wrong file is a
:class:`~eessi.errors.ConfigError` naming the key (``case[3].step[2].do``) and what to write.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from eessi.conformance.model import ROLES, Step, Suite, TestCase
from eessi.core.household import Household
from eessi.core.household_json import loads_household
from eessi.errors import ConfigError

__all__ = [
    "STEP_KINDS",
    "load_households",
    "load_suite",
    "shipped_suite",
    "suites_dir",
]

#: Step kinds and the keys each requires (others are optional or the request body).
STEP_KINDS: Mapping[str, tuple[str, ...]] = {
    # one of ours acts: an admin request (``docs/admin-api.md``), by ``at`` (default: the peer)
    "request": ("kind",),
    # the SUT is asked to act through its own POST /api/requests (case needs "requests")
    "trigger": ("kind",),
    # a document from the SUT must arrive: sed, opt. to, xpath, judge, count, within, deadline
    "expect": ("sed",),
    # no such document from the SUT (within ``quiet`` seconds)
    "expect-none": ("sed",),
    # the SUT refused our latest document with an error signal; opt. ``mentions``
    "expect-refused": (),
    # the SUT took our latest document (of ``sed``, if given) with a receipt
    "expect-accepted": (),
    # the SUT's delivery failed (our mock's ``fail`` rule) and it delivered again
    "expect-retried": ("sed",),
    # the virtual clock moves (ours and the SUT's): ``period`` (ISO 8601)
    "advance-clock": ("period",),
}
_CASE_KEYS = {
    "id",
    "title",
    "covers",
    "peer",
    "person",
    "needs",
    "rule",
    "step",
    "description",
    "peer_believes_answered",
}
_NEEDS = {"clock", "requests"}


def suites_dir() -> Path:
    """Where the shipped suites live (package data)."""
    return Path(__file__).resolve().parent / "data"


def shipped_suite(role: str) -> Path:
    if role not in ROLES:
        raise ConfigError(
            f"no conformance suite for the role {role!r}",
            where="--role",
            hint=f"roles: {', '.join(ROLES)}",
            code="conformance.unknown-role",
        )
    return suites_dir() / f"{role}.toml"


def _fail(where: str, message: str, hint: str, source: str) -> ConfigError:
    return ConfigError(message, where=f"{source}: {where}", hint=hint, code="conformance.bad-suite")


def _text(table: Mapping[str, Any], key: str, where: str, source: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(
            f"{where}.{key}", f"{key} must be a non-empty string", f'write {key} = "..."', source
        )
    return value


def _strings(table: Mapping[str, Any], key: str, where: str, source: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(
            f"{where}.{key}", f"{key} must be a list of strings", f'write {key} = ["..."]', source
        )
    return tuple(value)


def _start(value: Any, source: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(9, 0), tzinfo=UTC)
    raise _fail(
        "suite.start",
        "start must be a TOML date or date-time",
        "write start = 2026-04-15T09:00:00Z",
        source,
    )


def _step(i: int, raw: Any, where: str, source: str) -> Step:
    if not isinstance(raw, dict):
        raise _fail(where, "a step must be a table", 'write [[case.step]] with do = "..."', source)
    do = str(raw.get("do"))
    if do not in STEP_KINDS:
        raise _fail(
            f"{where}.do",
            f"unknown step {do!r}",
            f"do is one of: {', '.join(STEP_KINDS)}",
            source,
        )
    for key in STEP_KINDS[do]:
        if key not in raw:
            raise _fail(f"{where}.{key}", f"a {do} step needs {key}", f"add {key} = ...", source)
    args = {k: v for k, v in raw.items() if k not in ("do", "title")}
    title = raw.get("title") or _title(do, args)
    return Step(index=i, do=do, args=args, title=str(title))


def _title(do: str, args: Mapping[str, Any]) -> str:
    if do in ("request", "trigger"):
        who = "the SUT" if do == "trigger" else args.get("at", "the peer")
        return f"{who}: {args['kind']}"
    if do == "expect":
        return f"the SUT sends {args['sed']}"
    if do == "expect-none":
        return f"the SUT sends no {args['sed']}"
    if do == "expect-refused":
        return "the SUT refuses the document with an error signal"
    if do == "expect-accepted":
        what = f"our {args['sed']}" if "sed" in args else "the document"
        return f"the SUT accepts {what} (receipt)"
    if do == "expect-retried":
        return f"the SUT delivers its {args['sed']} again after a failed delivery"
    return f"the clock moves {args['period']}"


def _case(i: int, raw: Any, source: str) -> TestCase:
    where = f"case[{i}]"
    if not isinstance(raw, dict):
        raise _fail(where, "a case must be a table", "write [[case]] tables", source)
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise _fail(
            f"{where}.{sorted(unknown)[0]}",
            f"unknown key {sorted(unknown)[0]!r}",
            f"a case has: {', '.join(sorted(_CASE_KEYS))}",
            source,
        )
    case_id = _text(raw, "id", where, source)
    peer = _text(raw, "peer", where, source)
    needs = _strings(raw, "needs", where, source)
    for need in needs:
        if need not in _NEEDS:
            raise _fail(
                f"{where}.needs",
                f"unknown need {need!r}",
                f"needs: {', '.join(sorted(_NEEDS))}",
                source,
            )
    steps_raw = raw.get("step", [])
    if not isinstance(steps_raw, list) or not steps_raw:
        raise _fail(
            f"{where}.step",
            "a case needs at least one [[case.step]]",
            'add a step with do = "..."',
            source,
        )
    steps = tuple(_step(j, s, f"{where}.step[{j}]", source) for j, s in enumerate(steps_raw, 1))
    rules: list[tuple[str, Mapping[str, Any]]] = []
    for j, rule in enumerate(raw.get("rule", []), 1):
        if not isinstance(rule, dict):
            raise _fail(
                f"{where}.rule[{j}]",
                "a rule must be a table",
                "see docs/mock-behaviours.md",
                source,
            )
        body = dict(rule)
        fund = str(body.pop("fund", peer))
        body.setdefault("id", f"{case_id}-{j}")
        rules.append((fund, body))
    person = raw.get("person")
    return TestCase(
        id=case_id,
        title=_text(raw, "title", where, source),
        covers=_strings(raw, "covers", where, source),
        peer=peer,
        person=str(person) if person is not None else None,
        steps=steps,
        rules=tuple(rules),
        needs=needs,
        description=str(raw.get("description", "")).strip(),
        peer_believes_answered=_strings(raw, "peer_believes_answered", where, source),
    )


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file."""
    p = Path(path)
    source = str(p)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read {p}: {exc.strerror}", where=source, code="conformance.bad-suite"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail("(syntax)", f"not TOML: {exc}", "fix the TOML syntax", source) from None
    head = doc.get("suite")
    if not isinstance(head, dict):
        raise _fail(
            "suite", "the file needs a [suite] table", "add [suite] with role, sut, title", source
        )
    role = _text(head, "role", "suite", source)
    if role not in ROLES:
        raise _fail("suite.role", f"unknown role {role!r}", f"roles: {', '.join(ROLES)}", source)
    cases = tuple(_case(i, c, source) for i, c in enumerate(doc.get("case", []), 1))
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            raise _fail(
                "case.id", f"two cases have the ID {c.id}", "give each case its own ID", source
            )
        seen.add(c.id)
    return Suite(
        role=role,
        sut=_text(head, "sut", "suite", source),
        title=_text(head, "title", "suite", source),
        start=_start(head.get("start"), source),
        households=_strings(head, "households", "suite", source),
        peers=_strings(head, "peers", "suite", source),
        cases=cases,
        source=source,
    )


def load_households(suite: Suite) -> list[Household]:
    """The suite's households, read from its folder."""
    base = Path(suite.source).parent
    out = []
    for name in suite.households:
        path = base / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the household file {path}: {exc.strerror}",
                where=f"{suite.source}: suite.households",
                code="conformance.bad-suite",
            ) from None
        out.append(loads_household(text, source=str(path)).household)
    return out
