"""The run configuration a trace carries, and institutions built from it.

A trace must replay on another machine, so its header holds everything that decides what an
institution does besides the documents it receives (``docs/trace-format.md``)::

    {
      "households": [ {household file JSON}, ... ],   # the people (docs/household-format.md)
      "seed": 1,                                     # IDs and jitter, as `eessi up --seed 1`
      "seeds": {"LU:CNS00001": 1, ...},              # or per institution (wins over "seed")
      "rules": {"resources_threshold": [{"valid_from": "2026-01-01", "amount": "1700.00"}]},
      "start": "2026-01-05T09:00:00+00:00",          # the virtual clock's start
      "mocks": {"FR:CPAM5701": {                      # a mock fund's behaviours:
          "rules": [{rule}, ...], "seed": 7,          #   the rules it started with, its RNG
          "policy": {"auto_register": true, ...},     #   its desk's switches
          "stall_seconds": 30.0,
          "changes": [{"at": "...", "kind": "rule-added", "data": {...}}, ...]}}  # ~mock-rules
    }

``eessi trace export`` fills it from what the nodes noted in their journals at each start
(:mod:`eessi.trace.runlog`).

Every key is optional. :func:`build_institution` is the one place that turns a directory entry
and this configuration into an :class:`~eessi.node.institution.Institution`: recording a
scenario (:mod:`eessi.trace.record`) and replaying it (:mod:`eessi.trace.replay`) build their
institutions the same way, which is what makes a replay reproduce the recording.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from eessi.clock import Clock
from eessi.core.cns import CnsParams
from eessi.core.fund import FundPolicy
from eessi.core.household import Household
from eessi.core.household_json import parse_household
from eessi.core.rules import DEFAULT_PARAMETERS, DatedAmount, DatedAmounts, RuleParameters
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import ConfigError, EessiError
from eessi.ids import IdGenerator, SeededIds
from eessi.journal.base import Journal
from eessi.node.desk_factory import Desk, desk_factory
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import institution_seed
from eessi.trace.format import TraceError
from eessi.trace.runlog import mock_config
from eessi.transport.seam import TransportFactory

__all__ = [
    "build_institution",
    "cns_params",
    "fund_policy",
    "households",
    "rule_parameters",
    "run_config",
    "seed_of",
    "start_of",
]

_CNS_NAME_MAX = 155


def run_config(
    household_docs: Sequence[Mapping[str, Any]],
    *,
    seed: int | None = 0,
    seeds: Mapping[str, int] | None = None,
    rules: Mapping[str, Any] | None = None,
    start: datetime | None = None,
) -> dict[str, Any]:
    """A configuration dictionary in the trace header's form."""
    out: dict[str, Any] = {"households": [dict(d) for d in household_docs]}
    if seed is not None:
        out["seed"] = seed
    if seeds:
        out["seeds"] = dict(seeds)
    if rules:
        out["rules"] = dict(rules)
    if start is not None:
        out["start"] = start.isoformat()
    return out


def _bad(message: str, key: str, hint: str) -> TraceError:
    return TraceError(
        message, code="trace.bad-config", where=f"trace config, key {key!r}", hint=hint
    )


def households(config: Mapping[str, Any]) -> list[Household]:
    """The households of the configuration, checked like household files."""
    docs = config.get("households", [])
    if not isinstance(docs, list):
        raise _bad("households must be a list", "households", "a list of household file objects")
    out: list[Household] = []
    for i, doc in enumerate(docs):
        try:
            out.append(parse_household(doc, source=f"trace config households[{i}]").household)
        except EessiError as exc:
            raise _bad(
                f"household {i} is invalid: {exc}", "households", "see docs/household-format.md"
            ) from None
    return out


def rule_parameters(config: Mapping[str, Any]) -> RuleParameters:
    """The eligibility rules' parameters: the defaults with ``rules`` applied."""
    rules = config.get("rules") or {}
    if not isinstance(rules, Mapping):
        raise _bad("rules must be an object", "rules", 'write {"resources_threshold": [...]}')
    params = DEFAULT_PARAMETERS
    table = rules.get("resources_threshold")
    if table is not None:
        try:
            entries = tuple(
                DatedAmount(date.fromisoformat(row["valid_from"]), Decimal(str(row["amount"])))
                for row in table
            )
            params = params.with_(
                resources_threshold=DatedAmounts(entries), label="trace config (rules)"
            )
        except (KeyError, TypeError, ValueError, InvalidOperation, EessiError) as exc:
            raise _bad(
                f"the resources threshold table is invalid ({exc})",
                "rules.resources_threshold",
                'write [{"valid_from": "2026-01-01", "amount": "1700.00"}, ...]',
            ) from None
    unknown = sorted(set(rules) - {"resources_threshold"})
    if unknown:
        raise _bad(f"unknown rule parameter {unknown[0]!r}", "rules", "known: resources_threshold")
    return params


def cns_params(
    config: Mapping[str, Any], entry: InstitutionEntry, directory: Directory
) -> CnsParams:
    """The CNS desk's parameters (as the node's default ones, with the configured rules)."""
    return CnsParams(
        rules=rule_parameters(config),
        name=entry.name[:_CNS_NAME_MAX],
        institution_names={e.id: e.name for e in directory if e.id != entry.id},
    )


def _run_seed(config: Mapping[str, Any], ir_id: str) -> int:
    """The seed the institution's process was started with: ``seeds[id]``, else ``seed``
    (``eessi up --seed N`` gives every institution N), else 0."""
    seeds = config.get("seeds") or {}
    if isinstance(seeds, Mapping) and isinstance(seeds.get(ir_id), int):
        return int(seeds[ir_id])
    base = config.get("seed")
    return base if isinstance(base, int) else 0


def seed_of(config: Mapping[str, Any], directory: Directory, ir_id: str) -> int:
    """The seed of the institution's IDs and jitter, as ``eessi up``/``eessi serve`` derive it
    (:func:`eessi.node.network.institution_seed`): the run seed (``seeds[id]``, else ``seed``,
    else 0) with the institution ID mixed in, so two institutions of one run never draw the
    same IDs, and a trace exported from ``eessi up --seed N`` replays with that run's seeds.

    ``directory`` is kept for callers; the seed no longer depends on the institution's place
    in it."""
    del directory
    return institution_seed(_run_seed(config, ir_id), ir_id)


def fund_policy(config: Mapping[str, Any], ir_id: str) -> FundPolicy | None:
    """The policy switches a mock fund ran with (``mocks[id].policy``), if it was one."""
    mock = mock_config(config, ir_id)
    if mock is None:
        return None
    switches = mock.get("policy") or {}
    known = {f.name for f in dataclasses.fields(FundPolicy)}
    if not isinstance(switches, Mapping) or not all(
        k in known and isinstance(v, bool) for k, v in switches.items()
    ):
        raise _bad(
            f"the policy of {ir_id} is not a set of switches",
            f"mocks.{ir_id}.policy",
            f"switches (true or false): {', '.join(sorted(known))}",
        )
    return FundPolicy(**switches)


def start_of(config: Mapping[str, Any]) -> datetime | None:
    value = config.get("start")
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise _bad(f"start {value!r} is not a time", "start", "write an ISO 8601 time") from None
    if at.utcoffset() is None:
        raise ConfigError("the start time needs a time zone", where="trace config, key 'start'")
    return at


def build_institution(
    entry: InstitutionEntry,
    directory: Directory,
    config: Mapping[str, Any],
    journal: Journal,
    clock: Clock,
    *,
    people: Sequence[Household] | None = None,
    options: NodeOptions | None = None,
    ids: IdGenerator | None = None,
    on_desk: Callable[[IdGenerator], None] | None = None,
    transport: TransportFactory | None = None,
) -> Institution:
    """The institution ``entry`` as the configuration says (desk, seeded IDs and jitter).

    ``ids`` replaces the seeded generator; ``on_desk`` is told the ID generator the node hands
    its desk (the replay uses both to give the desk the IDs it drew in the recording);
    ``transport`` builds what carries its messages (default HTTP).
    """
    people = list(people) if people is not None else households(config)
    params = cns_params(config, entry, directory) if entry.kind == "cns" else None
    policy = fund_policy(config, entry.id) if entry.kind != "cns" else None
    make_desk = desk_factory(entry, directory, people, cns_params=params, fund_policy=policy)
    if on_desk is not None:
        inner, hook = make_desk, on_desk

        def make_desk(clock: Clock, desk_ids: IdGenerator, state: Any) -> Desk:
            hook(desk_ids)
            return inner(clock, desk_ids, state)

    seed = seed_of(config, directory, entry.id)
    signals = institution_seed(_run_seed(config, entry.id), entry.id, "signals")
    return Institution(
        entry,
        directory,
        journal,
        make_desk,
        clock=clock,
        ids=ids if ids is not None else SeededIds(seed),
        signal_ids=SeededIds(signals),
        rng=random.Random(seed),
        options=options or NodeOptions(bind_admin=False),
        transport=transport,
    )
