"""Which desk an institution of the directory runs: the CNS's, or a foreign fund's.

``kind = "cns"`` gets a :class:`~eessi.core.cns.CnsDesk` over the households' registry; every
other kind (``mock``, ``external`` served by us for a test) gets a
:class:`~eessi.core.fund.FundDesk` whose records are the household members it would know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from eessi.clock import Clock
from eessi.core import CnsDesk, CnsParams, CnsState, FundDesk, FundPolicy, FundState
from eessi.core.household import Household
from eessi.directory import Directory, InstitutionEntry
from eessi.ids import IdGenerator
from eessi.node.household_index import HouseholdSource
from eessi.node.households import cns_registry, fund_records
from eessi.sed.model import Institution

__all__ = ["Desk", "DeskFactory", "desk_factory"]

Desk: TypeAlias = CnsDesk | FundDesk
#: Builds the desk on the node's clock and ID generator, from a saved state or fresh (None).
DeskFactory: TypeAlias = Callable[[Clock, IdGenerator, Any], Desk]

_CNS_NAME_MAX = 155


def _cns_institution(directory: Directory) -> Institution:
    cns = directory.of_kind("cns")
    if cns:
        return Institution(id=cns[0].id, name=cns[0].name[:_CNS_NAME_MAX])
    return Institution(id="LU:CNS00001", name="Caisse nationale de santé")


def desk_factory(
    entry: InstitutionEntry,
    directory: Directory,
    households: Sequence[Household] | HouseholdSource,
    *,
    fund_policy: FundPolicy | None = None,
    cns_params: CnsParams | None = None,
) -> DeskFactory:
    """A factory for ``entry``'s desk (the registry and records are built once, here). The
    CNS's registry of a :class:`HouseholdSource` reads each household when first looked up."""
    if entry.kind == "cns":
        registry = (
            households.registry()
            if isinstance(households, HouseholdSource)
            else cns_registry(households)
        )
        params = cns_params or CnsParams(
            name=entry.name[:_CNS_NAME_MAX],
            institution_names={e.id: e.name for e in directory if e.id != entry.id},
        )

        def make_cns(clock: Clock, ids: IdGenerator, state: Any) -> Desk:
            assert state is None or isinstance(state, CnsState)
            return CnsDesk(entry.id, registry, clock, ids, params, state)

        return make_cns
    # A fund outside EESSI (R6: bilateral agreement) exchanges no SED: it keeps no records.
    people = households.households() if isinstance(households, HouseholdSource) else households
    records = fund_records(entry.id, people, _cns_institution(directory)) if entry.eessi else []

    def make_fund(clock: Clock, ids: IdGenerator, state: Any) -> Desk:
        assert state is None or isinstance(state, FundState)
        return FundDesk(entry.id, records, clock, ids, fund_policy, state)

    return make_fund
