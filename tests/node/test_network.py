"""Network: several institutions of one directory in one process; a hook before each start,
households given as a list."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
from node_kit import ANA, BE, CNS, PT, write_directory

from eessi.directory import Directory, load_directory
from eessi.errors import DomainError
from eessi.ids import SeededIds
from eessi.node.households import load_households
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution, default_signal_ids
from eessi.node.network import Network, free_port_run, free_ports, institution_seed


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


def test_a_port_run_for_port_base_lies_below_the_ports_clients_are_handed_and_is_free() -> None:
    # A run inside the ephemeral range could be taken by any client's connection before
    # `eessi up --port-base` binds it (seen as "address already in use" on a busy machine).
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
        ephemeral_low = int(f.read().split()[0])
    base = free_port_run(8)
    assert base + 8 <= ephemeral_low
    taken = [socket.socket() for _ in range(8)]
    try:
        for i, s in enumerate(taken):
            s.bind(("127.0.0.1", base + i))  # every port of the run binds now
        other = free_port_run(8, avoid=range(base, base + 8))
        assert not set(range(other, other + 8)) & set(range(base, base + 8))
    finally:
        for s in taken:
            s.close()


def _directory_in(where: Path) -> Directory:
    where.mkdir()
    return load_directory(write_directory(where))


async def _flow_in_two_processes_with_one_seed(where: Path) -> tuple[str, list[str]]:
    """The CNS and the fund as two one-institution networks (two ``eessi serve``) with the
    same seed; returns the case ID and the fund's journal (SED type, status)."""
    directory = _directory_in(where)
    async with (
        Network(directory, where / "cns", ids=[CNS], seed=5, synchronous="NORMAL") as cns,
        Network(directory, where / "pt", ids=[PT], seed=5, synchronous="NORMAL") as pt,
    ):
        step = await pt[PT].submit(RequestEntitlement(ANA))
        async with asyncio.timeout(15):
            while pt[PT].stats["acknowledged"] < 2 or cns[CNS].busy or pt[PT].busy:
                await cns.idle()
                await pt.idle()
                await asyncio.sleep(0.02)
        out = [f"{m.sed_type} {m.status.value}" for m in await pt[PT].journal.messages()]
        return step.outgoing[0].case_id, out


async def test_two_processes_with_the_same_seed_draw_different_ids_and_complete_the_case(
    tmp_path: Path,
) -> None:
    case_id, journal = await _flow_in_two_processes_with_one_seed(tmp_path / "one")
    assert journal == ["S071 acknowledged", "S072 processed", "S073 acknowledged"]
    # still reproducible: the same seed gives the same case ID again
    again, _ = await _flow_in_two_processes_with_one_seed(tmp_path / "two")
    assert again == case_id


def test_institution_seed_differs_by_institution_and_stream_and_is_stable() -> None:
    seeds = {institution_seed(5, i, s) for i in (CNS, PT) for s in ("", "signals")}
    assert len(seeds) == 4
    assert institution_seed(5, CNS) == institution_seed(5, CNS)


async def _case_id_after_signals(where: Path, directory: Directory, signals: int) -> str:
    async with Network(directory, where, ids=[PT], seed=3, synchronous="NORMAL") as net:
        async with aiohttp.ClientSession() as session:
            for _ in range(signals):  # each answered with an error signal (its own message ID)
                async with session.post(net[PT].endpoint_url or "", data=b"not AS4") as resp:
                    assert resp.status >= 400
                    assert b"MessageId" in await resp.read()
        step = await net[PT].submit(RequestEntitlement(ANA))
        return step.outgoing[0].case_id


async def test_signals_sent_do_not_change_a_seeded_desks_ids(tmp_path: Path) -> None:
    directory = _directory_in(tmp_path / "dir")
    quiet = await _case_id_after_signals(tmp_path / "a", directory, 0)
    assert await _case_id_after_signals(tmp_path / "b", directory, 3) == quiet


async def _first_case_id(where: Path, directory: Directory, ir_id: str) -> str:
    person = ANA if ir_id == PT else "peeters-arlon/els"  # someone each fund knows
    async with Network(directory, where, ids=[ir_id], seed=5, synchronous="NORMAL") as net:
        step = await net[ir_id].submit(RequestEntitlement(person))
        return step.outgoing[0].case_id


async def test_two_institutions_given_one_seed_draw_different_ids_and_each_the_same_again(
    tmp_path: Path,
) -> None:
    directory = _directory_in(tmp_path / "dir")
    pt = await _first_case_id(tmp_path / "pt", directory, PT)
    be = await _first_case_id(tmp_path / "be", directory, BE)
    assert pt.partition("-")[2] != be.partition("-")[2]  # not the same draw behind the prefix
    assert await _first_case_id(tmp_path / "pt2", directory, PT) == pt


def test_a_node_given_no_signal_generator_draws_them_by_the_one_seed_rule() -> None:
    """``default_signal_ids`` is the ``"signals"`` stream of ``institution_seed`` (run seed 0)."""
    drawn = default_signal_ids(CNS, seeded=SeededIds(7))
    assert drawn.uuid() == SeededIds(institution_seed(0, CNS, "signals")).uuid()
