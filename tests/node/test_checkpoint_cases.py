"""A checkpoint stores each case's record in compact's form, not pickled (D440): a restart in
another process, which met the model's classes in another order, gets every case equal to
the one the writing node held; a case stored pickled (the form of the build before, and of a
case compact cannot encode) still reads; a checkpoint of the build before is ignored once,
the whole input log replayed, and the next one is this build's (issue 9, item 11)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest
from node_kit import CNS, FR, write_directory
from test_checkpoint import cns_db, network, people, restored_in_child, run_requests

from eessi.core.desk import CaseFile
from eessi.directory import load_directory
from eessi.node.checkpoint import _Codec
from eessi.node.network import journal_file_name

# A fresh process: classes registered in another order than the writer's, then the CNS's
# checkpoint restored and every case printed whole (its record and its documents' XML).
FIRST = """
from eessi.core.case import Deadlines
compact.encode(Deadlines())
"""
SHOW = """
def show(state):
    for case_id in sorted(state.cases):
        case = state.cases[case_id]
        print(case_id, repr(case.snapshot), case.peer, repr(case.member), case.person,
              case.suspended, [case.documents[d].to_xml().hex() for d in sorted(case.documents)])
"""


def case_lines(cases: Mapping[str, CaseFile]) -> list[str]:
    """Each case whole, as the child prints it: its record, and its documents as XML."""
    lines = []
    for case_id in sorted(cases):
        case = cases[case_id]
        xml = [case.documents[d].to_xml().hex() for d in sorted(case.documents)]
        lines.append(
            f"{case_id} {case.snapshot!r} {case.peer} {case.member!r} {case.person}"
            f" {case.suspended} {xml}"
        )
    return lines


def case_rows(db: Path) -> list[tuple[bytes, bytes]]:
    """The cases' own rows (not their index): key and value."""
    with sqlite3.connect(db) as conn:
        rows: list[tuple[bytes, bytes]] = conn.execute(
            "SELECT key, value FROM checkpoint_items WHERE tbl = 'cases'"
            " AND substr(key, 1, 1) <> x'02'"
        ).fetchall()
    return rows


def entry_of(value: bytes) -> bytes:
    """An entry's encoded value, after a deferred one's mark and summary (D101)."""
    return value[2 + value[1] :] if value[0] == 0 else value


async def test_a_restart_in_another_process_reads_every_case_equal_from_its_compact_record(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    households = people(5)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(5)])
        live = net[CNS].desk.snapshot()
    expected = case_lines(live.cases)
    assert len(expected) == 5
    rows = case_rows(cns_db(tmp_path))
    assert len(rows) == 5
    # every case's record in compact's form (first byte 1), none pickled (0x80)
    assert {entry_of(value)[0] for _, value in rows} == {1}
    assert await restored_in_child(SHOW, cns_db(tmp_path), CNS, first=FIRST) == expected


async def test_cases_stored_pickled_as_the_build_before_wrote_them_still_restore_equal(
    tmp_path: Path,
) -> None:
    """Each case's row rewritten as a pickle (the build before D440 wrote every case so; this
    build writes so a case compact cannot encode): read as before, nothing replayed."""
    directory = load_directory(write_directory(tmp_path))
    households = people(4)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(4)])
        live = net[CNS].desk.snapshot()
    db = cns_db(tmp_path)
    with sqlite3.connect(db) as conn:
        header = json.loads(conn.execute("SELECT header FROM checkpoint").fetchone()[0])
        codec = _Codec(header["globals"])
        for key, value in case_rows(db):
            data = entry_of(value)
            pickled = codec.dumps(codec.load_entry(data))
            assert pickled[0] == 0x80
            value = value[: len(value) - len(data)] + pickled
            conn.execute(
                "UPDATE checkpoint_items SET value = ? WHERE tbl = 'cases' AND key = ?",
                (value, key),
            )
        header["globals"] = codec.names  # the table of globals the pickles name
        conn.execute("UPDATE checkpoint SET header = ?", (json.dumps(header),))
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == 0
        restored = net[CNS].desk.snapshot()
        assert restored == live
        assert case_lines(restored.cases) == case_lines(live.cases)


async def test_a_checkpoint_of_the_build_before_is_ignored_once_and_the_next_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint whose entry codec is another build's (the one before D440 pickled every
    case) is not read: WARNING, the whole log replayed to the same state; the stop writes
    this build's, which the next start reads without replaying anything."""
    directory = load_directory(write_directory(tmp_path))
    households = people(3)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(3)])
        live = net[CNS].desk.snapshot()
        fund = net[FR].desk.snapshot()
    for db in (cns_db(tmp_path), tmp_path / journal_file_name(FR)):
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE checkpoint SET header = json_set(header, '$.codec', 'pre-d440')")
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with network(tmp_path, directory, households, every=None) as net:
            assert net[CNS].stats["replayed"] == 6
            assert net[CNS].desk.snapshot() == live
            assert net[FR].desk.snapshot() == fund
    reasons = [r.getMessage() for r in caplog.records if "checkpoint ignored" in r.getMessage()]
    assert len(reasons) == 2  # the CNS's and the fund's, once each
    assert all("'pre-d440'" in reason for reason in reasons)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with network(tmp_path, directory, households, every=None) as net:
            assert net[CNS].stats["replayed"] == 0
            assert net[FR].stats["replayed"] == 0
            assert net[CNS].desk.snapshot() == live
    assert not [r for r in caplog.records if "checkpoint ignored" in r.getMessage()]
