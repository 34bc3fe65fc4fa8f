"""A network as ``eessi up`` runs it, for the dashboard's tests: the CNS and the French mock
fund (scriptable: its ``/api/mock/`` routes), on loopback, on a virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from eessi.clock import VirtualClock
from eessi.directory import load_default_directory
from eessi.mock.wiring import enable_mock, mock_controller
from eessi.node.institution import Institution
from eessi.node.network import Network, loopback_directory

CNS = "LU:CNS00001"
FR = "FR:CPAM5701"
#: A person the French fund knows (its record key).
PERSON = "martin-thionville/marie"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def up_network(db_dir: Path) -> Network:
    """The network, not started yet."""
    directory = loopback_directory(load_default_directory(), [CNS, FR])
    controller = mock_controller(directory, seed=7)

    def prepare(inst: Institution) -> None:  # as eessi up does
        if inst.entry.kind == "mock":
            enable_mock(inst, controller)

    return Network(
        directory,
        db_dir,
        ids=[CNS, FR],
        seed=7,
        clock=VirtualClock(T0),
        synchronous="NORMAL",
        prepare=prepare,
        fund_policies={fund: p.policy for fund, p in controller.profiles.items()},
    )
