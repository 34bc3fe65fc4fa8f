"""The checkpoint's tables but the cases are packed, a few thousand entries a row (D220): they
round-trip, a checkpoint rewrites only the rows whose entries changed (and the last, which
new keys join), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import asyncpg
import pytest
from node_kit import CNS, FR, PT, write_directory
from test_checkpoint import FAST, network, people, run_requests

import eessi.node.checkpoint as checkpoint_module
from eessi.core.cns import CnsState
from eessi.core.fund import FundPolicy
from eessi.core.household import Household
from eessi.directory import Directory, InstitutionEntry, load_directory
from eessi.node.checkpoint import FORMAT, _Codec, _unpack
from eessi.node.institution import Institution
from eessi.node.network import Network, journal_file_name, open_institution


def cns_state(net: Network) -> CnsState:
    state = net[CNS].desk.snapshot()
    assert isinstance(state, CnsState)
    return state


def packed_rows(db: Path, table: str) -> dict[bytes, bytes]:
    with sqlite3.connect(db) as conn:
        return dict(
            conn.execute(
                "SELECT key, value FROM checkpoint_items WHERE tbl = ? ORDER BY key", (table,)
            )
        )


async def test_packed_tables_round_trip_and_only_changed_rows_are_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "CHUNK_ENTRIES", 4)  # rows of 4 entries
    directory = load_directory(write_directory(tmp_path))
    households = people(12)
    db = tmp_path / journal_file_name(CNS)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(10)])
        live = net[CNS].desk.snapshot()
    first = packed_rows(db, "registrations")
    assert len(first) == 3  # 10 registrations, 4 a row
    async with network(tmp_path, directory, households, every=None) as net:
        assert net[CNS].stats["replayed"] == 0
        assert net[CNS].desk.snapshot() == live
        assert sorted(map(str, cns_state(net).registrations)) == [
            f"ckpt-{i:03d}/spouse" for i in range(10)
        ]
        await run_requests(net, ["ckpt-010/spouse", "ckpt-011/spouse"])
        later = net[CNS].desk.snapshot()
    second = packed_rows(db, "registrations")
    # the two new registrations joined the last row (2 entries, room for 2): the full rows
    # were not written again, the last one was
    assert second.keys() == first.keys()
    full = sorted(first)[:2]
    assert all(second[key] == first[key] for key in full)
    assert second[sorted(first)[2]] != first[sorted(first)[2]]
    with sqlite3.connect(db) as conn:
        (header,) = conn.execute("SELECT header FROM checkpoint").fetchone()
    assert f'"{FORMAT}"' in header
    codec = _Codec(json.loads(header)["globals"])
    keys, values = _unpack(codec, second[sorted(first)[2]])
    assert [str(k) for k in keys] == [f"ckpt-{i:03d}/spouse" for i in (8, 9, 10, 11)]
    assert values == [cast(CnsState, later).registrations[k] for k in keys]
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == 0
        assert net[CNS].desk.snapshot() == later


def on_postgres(url: str, households: Sequence[Household], every: int | None, seed: int) -> Any:
    """A network builder: the CNS's journal on PostgreSQL, the funds' on SQLite."""

    async def build(
        entry: InstitutionEntry, directory: Directory, db: Path, session: aiohttp.ClientSession
    ) -> Institution:
        return await open_institution(
            entry,
            directory,
            url if entry.id == CNS else db,
            households=households,
            seed=seed,
            options=replace(FAST, checkpoint_every=every),
            synchronous="NORMAL",
            session=session,
            fund_policy=FundPolicy(auto_register=False) if entry.id == PT else None,
        )

    return build


_seeds = iter(range(100, 1000))  # each run its own: a restarted fund draws new case IDs


def pg_network(
    tmp_path: Path, directory: Directory, households: Sequence[Household], url: str, every: int
) -> Network:
    return Network(
        directory,
        tmp_path,
        ids=[CNS, FR, PT],
        households=households,
        build=on_postgres(url, households, every, next(_seeds)),
    )


async def test_packed_checkpoint_on_postgresql_round_trips_and_reads_the_previous_layout(
    tmp_path: Path, postgres_url: str
) -> None:
    """On PostgreSQL too: the packed checkpoint restores the state without replaying; and a
    checkpoint laid out as the previous format (every table one row per entry, its header's
    format and model those the previous build wrote) is read, its next one packed."""
    directory = load_directory(write_directory(tmp_path))
    households = people(7)
    async with pg_network(tmp_path, directory, households, postgres_url, every=1000) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(6)])
        live = net[CNS].desk.snapshot()
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = dict(await conn.fetch("SELECT tbl, count(*) FROM checkpoint_items GROUP BY tbl"))
        assert tables == {"cases": 6 + 1, "household_cases": 1, "registrations": 1}
        async with pg_network(tmp_path, directory, households, postgres_url, every=0) as net:
            assert net[CNS].stats["replayed"] == 0
            assert net[CNS].desk.snapshot() == live
        await as_previous_format(conn)
        tables = dict(await conn.fetch("SELECT tbl, count(*) FROM checkpoint_items GROUP BY tbl"))
        assert tables == {"cases": 6, "household_cases": 6, "registrations": 6}
        async with pg_network(tmp_path, directory, households, postgres_url, every=1000) as net:
            assert net[CNS].stats["replayed"] == 0  # read, not replayed
            assert net[CNS].desk.snapshot() == live
            await run_requests(net, ["ckpt-006/spouse"])  # the stop's checkpoint, packed
            later = net[CNS].desk.snapshot()
        tables = dict(await conn.fetch("SELECT tbl, count(*) FROM checkpoint_items GROUP BY tbl"))
        assert tables == {"cases": 7 + 1, "household_cases": 1, "registrations": 1}
        async with pg_network(tmp_path, directory, households, postgres_url, every=0) as net:
            assert net[CNS].stats["replayed"] == 0
            assert net[CNS].desk.snapshot() == later
            assert len(cns_state(net).registrations) == 7
    finally:
        await conn.close()


async def as_previous_format(conn: asyncpg.Connection) -> None:
    """Rewrite the CNS's checkpoint as the previous build laid it out: each packed row's
    entries one row each, encoded as the cases are (the codec the previous format used for
    every table), and the header of that format and of that build's model."""
    from eessi.node.checkpoint import _DORMANT, _LEGACY_MODEL, LEGACY_FORMAT, _summary

    slot, text = await conn.fetchrow("SELECT slot, header FROM checkpoint")
    header = json.loads(text)
    codec = _Codec(header["globals"])
    rows = await conn.fetch(
        "SELECT tbl, key, value FROM checkpoint_items WHERE slot = $1 AND tbl <> 'cases'", slot
    )
    # the cases' index (D220) was not in the previous format
    await conn.execute(
        "DELETE FROM checkpoint_items WHERE slot = $1 AND tbl = 'cases' AND key >= '\\x02'::bytea"
        " AND key < '\\x03'::bytea",
        slot,
    )
    entries = []
    for row in rows:
        keys, values = _unpack(codec, row["value"])
        for key, value in zip(keys, values, strict=True):
            data = _DORMANT + _summary(value) + codec.dumps(value)
            entries.append((slot, row["tbl"], codec.key(key), data))
    await conn.execute("DELETE FROM checkpoint_items WHERE slot = $1 AND tbl <> 'cases'", slot)
    await conn.executemany(
        "INSERT INTO checkpoint_items (slot, tbl, key, value) VALUES ($1, $2, $3, $4)", entries
    )
    header.update(
        format=LEGACY_FORMAT,
        model=_LEGACY_MODEL[sys.version_info[:2]],
        globals=codec.names,
    )
    header.pop("codec")
    header.pop("by_key")
    count = await conn.fetchval("SELECT count(*) FROM checkpoint_items WHERE slot = $1", slot)
    await conn.execute(
        "UPDATE checkpoint SET header = $1, items = $2 WHERE slot = $3",
        json.dumps(header),
        count,
        slot,
    )


async def test_a_case_row_missing_beside_its_index_is_seen_and_the_whole_log_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart reads the cases' index, not their rows (D221); a row gone from beside its
    index (a journal edited by hand, a bad copy) is still noticed: the checkpoint is ignored
    and the whole input log replayed, to the same state."""
    directory = load_directory(write_directory(tmp_path))
    households = people(4)
    db = tmp_path / journal_file_name(CNS)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(4)])
        live = net[CNS].desk.snapshot()
        total = net[CNS].checkpoints.input_seq
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM checkpoint_items WHERE rowid = (SELECT min(rowid) FROM"
            " checkpoint_items WHERE tbl = 'cases' AND substr(key, 1, 1) <> x'02')"
        )
        conn.execute("UPDATE checkpoint SET items = items - 1")  # the total still agrees
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with network(tmp_path, directory, households, every=0) as net:
            assert net[CNS].stats["replayed"] == total
            assert net[CNS].desk.snapshot() == live
    assert "its index of cases lists 4 rows, it has 3" in caplog.text
