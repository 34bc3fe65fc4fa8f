"""Network: several institutions of one directory in one process; a hook before each start,
households given as a list."""

from __future__ import annotations

from pathlib import Path

import pytest
from node_kit import ANA, CNS, PT, write_directory

from eessi.directory import load_directory
from eessi.errors import DomainError
from eessi.node.households import load_households
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution
from eessi.node.network import Network, free_ports


async def test_prepare_is_called_with_each_node_before_it_starts(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    seen: list[tuple[str, str | None]] = []

    def prepare(inst: Institution) -> None:
        seen.append((inst.id, inst.url))  # url is None until the node listens

    async with Network(
        directory, tmp_path, ids=[CNS, PT], prepare=prepare, synchronous="NORMAL"
    ) as net:
        assert all(net[i].url for i in (CNS, PT))
    assert seen == [(CNS, None), (PT, None)]


async def test_households_given_as_a_list_are_the_only_people_known(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    silva = [h for h in load_households() if ANA.split("/")[0] in h.id]
    assert silva
    async with Network(
        directory, tmp_path / "a", ids=[PT], households=silva, synchronous="NORMAL"
    ) as net:
        await net[PT].submit(RequestEntitlement(ANA))  # known: no error
    async with Network(
        directory, tmp_path / "b", ids=[PT], households=[], synchronous="NORMAL"
    ) as net:
        with pytest.raises(DomainError):
            await net[PT].submit(RequestEntitlement(ANA))


def test_free_ports_are_distinct_when_many_are_asked_at_once() -> None:
    assert len(set(free_ports(64))) == 64
