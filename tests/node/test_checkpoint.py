"""Restart from a checkpoint of the desk state: only the inputs after it are replayed, and the
state is exactly the one a full replay of the input log gives (issue 9, item 11)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from node_kit import ANA, CNS, FR, PT, write_directory

from eessi.core.fund import FundPolicy
from eessi.core.household import Household
from eessi.core.household_json import parse_household
from eessi.directory import Directory, load_default_directory, load_directory
from eessi.journal import Direction, open_journal
from eessi.node.desk_factory import desk_factory
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import Network, journal_file_name, load_households
from eessi.node.records import INPUT_LOG
from eessi.scenario.format import load_scenario, shipped_scenarios
from eessi.scenario.runner import run_scenario
from eessi.scenario.world import loopback_directory
from eessi.transport.client import RetryPolicy

FAST = NodeOptions(retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2))


def household(n: int) -> dict[str, object]:
    """Household ``n``: main insured in LU, spouse living in France, in the RNPP (R17)."""
    return {
        "format": "eessi-household/1",
        "id": f"ckpt-{n:03d}",
        "main_insured": [
            {
                "id": "main",
                "pin": f"19800101{n:05d}",
                "name": f"Paul Ckpt{n}",
                "date_of_birth": "1980-01-01",
                "affiliated_since": "2020-01-01",
            }
        ],
        "members": [
            {
                "id": "spouse",
                "name": f"Claire Ckpt{n}",
                "relation": "spouse",
                "date_of_birth": "1982-06-15",
                "relation_since": "2010-05-01",
                "country_of_residence": "FR",
                "rnpp_registered": True,
            }
        ],
    }


def people(n: int) -> list[Household]:
    return list(load_households(None)) + [parse_household(household(i)).household for i in range(n)]


_runs = iter(range(1, 1000))


def network(
    tmp_path: Path, directory: Directory, households: Sequence[Household], every: int | None
) -> Network:
    """The CNS, FR and PT; PT does not register on its own, so the CNS keeps its cases open
    (awaiting the S073). Each run its own seed: a restarted fund draws new case IDs."""
    return Network(
        directory,
        tmp_path,
        ids=[CNS, FR, PT],
        seed=next(_runs),
        options=replace(FAST, checkpoint_every=every),
        synchronous="NORMAL",
        households=households,
        fund_policies={PT: FundPolicy(auto_register=False)},
    )


async def run_requests(net: Network, keys: Sequence[str]) -> None:
    await asyncio.gather(*(net[FR].submit(RequestEntitlement(key)) for key in keys))
    async with asyncio.timeout(60):
        await net.idle()


def drop_checkpoint(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM checkpoint_items")
        conn.execute("DELETE FROM checkpoint")


def cns_db(tmp_path: Path) -> Path:
    return tmp_path / journal_file_name(CNS)


# A fresh process: classes registered in another order than the writer's (X001, S073, S071
# first, then ``first``), the CNS's checkpoint restored, then ``show(state)`` prints it.
_CHILD_HEAD = """
import asyncio, hashlib, sys
from eessi.core import compact
from eessi.core.cns import CnsState
from eessi.journal import open_journal
from eessi.node.checkpoint import DeskCheckpoints
from eessi.sed.examples import example

for code in ("X001", "S073", "S071"):
    compact.encode(example(code))
"""
_CHILD_TAIL = """
async def main(db, owner):
    journal = await open_journal(db)
    try:
        state = await DeskCheckpoints(journal, owner).restore(CnsState())
    finally:
        await journal.close()
    assert state is not None, "the checkpoint was ignored"
    show(state)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def restored_in_child(show: str, db: Path, owner: str, *, first: str = "") -> list[str]:
    """The checkpoint of ``owner`` in the journal ``db`` restored in a fresh process (after
    ``first``, Python that registers more classes), printed by ``show`` (Python source
    defining ``show(state)``): the lines printed. The process must end well, its checkpoint
    read (no "checkpoint ignored" in its log)."""
    program = _CHILD_HEAD + first + "\n" + show + "\n" + _CHILD_TAIL
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", program, str(db), owner,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        stdout, stderr = await child.communicate()
    assert child.returncode == 0, stderr.decode()
    assert b"checkpoint ignored" not in stderr
    return stdout.decode().splitlines()


async def test_restart_replays_only_the_inputs_after_the_checkpoint(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    households = people(30)
    # A history: 20 R17 cases completed, one left open at PT, a checkpoint every 7 inputs...
    async with network(tmp_path, directory, households, every=7) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(20)])
        await net[PT].submit(RequestEntitlement(ANA))
        async with asyncio.timeout(60):
            await net.idle()
    # ... then 10 more inputs and a crash-like end: no checkpoint after the first run's.
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == 0  # the first run's stop() checkpointed it all
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(20, 25)])
        live = net[CNS].desk.snapshot()
        total = len(await net[CNS].journal.case_events(INPUT_LOG))
    assert total == 2 * 25 + 1
    open_cases = [cf for cf in live.cases.values() if cf.state.value != "completed"]
    assert len(open_cases) == 1  # ANA's, at PT

    async with network(tmp_path, directory, households, every=7) as net:
        assert net[CNS].stats["replayed"] == 10  # the 5 cases since the checkpoint, 2 inputs each
        from_checkpoint = net[CNS].desk.snapshot()
        assert from_checkpoint == live
    drop_checkpoint(cns_db(tmp_path))
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == total
        assert net[CNS].desk.snapshot() == live
        # and the node goes on from the restored state exactly as from the replayed one
        await run_requests(net, ["ckpt-025/spouse"])
        assert len(net[CNS].desk.registrations) == 26


async def test_checkpoint_of_other_state_classes_is_ignored_and_the_log_replayed_in_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = load_directory(write_directory(tmp_path))
    households = people(4)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(4)])
        live = net[CNS].desk.snapshot()
    with sqlite3.connect(cns_db(tmp_path)) as conn:
        conn.execute("UPDATE checkpoint SET header = json_set(header, '$.model', 'an-older-build')")
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with network(tmp_path, directory, households, every=None) as net:
            assert net[CNS].stats["replayed"] == 8
            assert net[CNS].desk.snapshot() == live
    reasons = [r.getMessage() for r in caplog.records if "checkpoint ignored" in r.getMessage()]
    assert len(reasons) == 1
    assert "'an-older-build'" in reasons[0]
    assert "whose state classes differ" in reasons[0]
    # the next stop() replaced it with one this build reads
    async with network(tmp_path, directory, households, every=None) as net:
        assert net[CNS].stats["replayed"] == 0
        assert net[CNS].desk.snapshot() == live


async def test_unreadable_checkpoint_is_ignored_and_the_log_replayed_in_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = load_directory(write_directory(tmp_path))
    households = people(3)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(3)])
        live = net[CNS].desk.snapshot()
    with sqlite3.connect(cns_db(tmp_path)) as conn:
        conn.execute(
            # a row every restore reads (the cases' rows are read by key when needed, D186,
            # their index is read, D220)
            "UPDATE checkpoint_items SET value = x'8005deadbeef' WHERE rowid ="
            " (SELECT min(rowid) FROM checkpoint_items WHERE tbl = 'cases'"
            " AND substr(key, 1, 1) = x'02')"
        )
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with network(tmp_path, directory, households, every=None) as net:
            assert net[CNS].stats["replayed"] == 6
            assert net[CNS].desk.snapshot() == live
    assert any(
        "checkpoint ignored, an entry cannot be decoded" in r.getMessage() for r in caplog.records
    )


async def test_checkpoint_of_another_journals_history_is_ignored(tmp_path: Path) -> None:
    """A checkpoint naming an input the log does not hold (a journal file put back from a
    backup, say) is not trusted: the log is replayed in full."""
    directory = load_directory(write_directory(tmp_path))
    households = people(2)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, ["ckpt-000/spouse", "ckpt-001/spouse"])
        live = net[CNS].desk.snapshot()
    with sqlite3.connect(cns_db(tmp_path)) as conn:
        conn.execute("UPDATE checkpoint SET at = '2020-01-01T00:00:00.000000Z'")
    async with network(tmp_path, directory, households, every=None) as net:
        assert net[CNS].stats["replayed"] == 4
        assert net[CNS].desk.snapshot() == live


# -- the shipped scenarios: realistic histories (reminders, CNS inputs, several BUCs) --------


async def restored(
    db: Path, directory: Directory, households: Sequence[Household]
) -> tuple[Any, int]:
    """The CNS's state as a node restores it from ``db``, and how many inputs it replayed."""
    entry = directory.get(CNS)
    journal = await open_journal(db, synchronous="NORMAL")
    node = Institution(
        entry,
        directory,
        journal,
        desk_factory(entry, directory, households),
        options=replace(FAST, checkpoint_every=0, bind_admin=False),
    )
    try:
        await node.start(host="127.0.0.1", port=0)
        state, replayed = node.desk.snapshot(), node.stats["replayed"]
        await node.stop()
    finally:
        await journal.close()
    return state, replayed


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
async def test_scenario_history_restores_from_checkpoint_as_from_full_replay(
    tmp_path: Path, path: Path
) -> None:
    scenario = load_scenario(path)
    report = await run_scenario(scenario, workdir=tmp_path)
    assert not report.error
    directory = loopback_directory(load_default_directory(), scenario.institutions)
    db = tmp_path / journal_file_name(CNS)
    if not db.exists():
        pytest.skip("the scenario runs no CNS")
    with sqlite3.connect(db) as conn:
        (logged,) = conn.execute(
            "SELECT count(*) FROM case_events WHERE case_id = ?", (INPUT_LOG,)
        ).fetchone()
        (saved,) = conn.execute("SELECT count(*) FROM checkpoint").fetchone()
    assert logged > 0
    assert saved == 1  # written when the scenario's network stopped
    from_checkpoint, replayed = await restored(db, directory, [scenario.household])
    assert replayed == 0
    drop_checkpoint(db)
    from_log, replayed = await restored(db, directory, [scenario.household])
    assert replayed == logged
    assert from_checkpoint == from_log


async def test_checkpoint_that_cannot_be_written_leaves_the_inputs_processed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The journal refuses the checkpoint (its tables were dropped behind the node's back):
    every input is still processed and committed, the failure is logged, and the next start
    replays the whole log."""
    directory = load_directory(write_directory(tmp_path))
    households = people(4)
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with network(tmp_path, directory, households, every=1) as net:
            with sqlite3.connect(cns_db(tmp_path)) as conn:
                conn.execute("DROP TABLE checkpoint_items")
            await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(4)])
            assert len(net[CNS].desk.registrations) == 4
            live = net[CNS].desk.snapshot()
    assert any("the checkpoint could not be written" in r.getMessage() for r in caplog.records)
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == 8
        assert net[CNS].desk.snapshot() == live


def deferred_cases(node: Institution) -> int:
    """How many of the desk's cases the restore left encoded (not decoded yet, D101)."""
    from eessi.core.desk import Deferred, PersistentMap

    cases = node.desk.snapshot().cases
    assert isinstance(cases, PersistentMap)
    return sum(1 for _, cf in cases.raw_items() if isinstance(cf, Deferred))


async def test_completed_cases_are_not_decoded_at_restart_and_still_answer_a_late_x008(
    tmp_path: Path,
) -> None:
    """A restart from a checkpoint replays nothing and leaves the completed cases encoded; a
    late X008 withdrawing the S073 of one of them is handled exactly as after a full replay
    of the log: the case reopens and the CNS's answer and state are the same."""
    from eessi.node.inputs import InvalidateDocument

    directory = load_directory(write_directory(tmp_path))
    households = people(5)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(5)])
        fund_cases = sorted(net[FR].desk.snapshot().cases)
        logged = len(await net[CNS].journal.case_events(INPUT_LOG))
    assert logged == 10
    async with network(tmp_path, directory, households, every=None) as net:
        cns = net[CNS]
        assert cns.stats["replayed"] == 0
        assert deferred_cases(cns) == 5  # all completed: none decoded by the restart
        late = fund_cases[2]
        assert cns.desk.snapshot().cases[late].state.value == "completed"
        await net[FR].submit(InvalidateDocument(late, "S073"))
        async with asyncio.timeout(60):
            await net.idle()
        after = cns.desk.snapshot()
        assert after.cases[late].state.value == "awaiting-confirmation"
        # only what the X008 read was decoded (its case and the household's: one case here)
        assert deferred_cases(cns) == 4
        sent = await cns.journal.messages(direction=Direction.OUT)
    drop_checkpoint(cns_db(tmp_path))
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == logged + 1  # the X008 too
        assert net[CNS].desk.snapshot() == after
        assert await net[CNS].journal.messages(direction=Direction.OUT) == sent


async def test_the_open_cases_metric_counts_a_restored_node_without_decoding_its_cases(
    tmp_path: Path,
) -> None:
    """``eessi_open_cases`` after a restart from a checkpoint gives what it gave before the
    restart, and reading it decodes none of the cases the restore left encoded (D152)."""
    from prometheus_client.parser import text_string_to_metric_families

    from eessi.ops.metrics import NodeMetrics

    def open_cases(node: Institution) -> list[tuple[str, str, float]]:
        metrics = NodeMetrics(node.id)
        metrics.watch(node, lambda: 0)
        [family] = [
            f
            for f in text_string_to_metric_families(metrics.exposition().decode())
            if f.name == "eessi_open_cases"
        ]
        return sorted((s.labels["buc"], s.labels["state"], s.value) for s in family.samples)

    directory = load_directory(write_directory(tmp_path))
    households = people(4)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(4)])
        await net[PT].submit(RequestEntitlement(ANA))  # left open: PT does not register
        async with asyncio.timeout(60):
            await net.idle()
        before = open_cases(net[CNS])
    assert ("S_BUC_01", "completed", 4.0) in before
    async with network(tmp_path, directory, households, every=None) as net:
        assert deferred_cases(net[CNS]) == 4  # the completed ones
        assert open_cases(net[CNS]) == before
        assert deferred_cases(net[CNS]) == 4  # none decoded by the scrape


async def test_a_damaged_entry_left_encoded_fails_only_the_input_that_reads_it(
    tmp_path: Path,
) -> None:
    """An entry the restore left encoded is decoded when an input reads it; if it is damaged,
    that input fails with journal.checkpoint-damaged (marked failed, never rejected to the
    peer) and the other cases go on."""

    directory = load_directory(write_directory(tmp_path))
    households = people(2)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, ["ckpt-000/spouse", "ckpt-001/spouse"])
        damaged, sound = sorted(net[FR].desk.snapshot().cases)
    with sqlite3.connect(cns_db(tmp_path)) as conn:
        key = b"\x00" + damaged.encode()
        conn.execute(
            # dormant, no summary, then a damaged pickle
            "UPDATE checkpoint_items SET value = x'00008005deadbeef'"
            " WHERE tbl = 'cases' AND key = ?",
            (key,),
        )
        assert conn.total_changes == 1
    async with network(tmp_path, directory, households, every=0) as net:
        cns = net[CNS]
        assert cns.stats["replayed"] == 0
        await _only_the_damaged_case_fails(net, damaged, sound)


def _fingerprint_of(root: Path) -> str:
    """The checkpoint fingerprint (D185) of the eessi package copied under ``root``, read by a
    fresh interpreter importing that copy."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", "from eessi.node.checkpoint import model_version as v; print(v())"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_checkpoint_survives_an_upgrade_that_changes_behaviour_and_not_the_state_classes(
    tmp_path: Path,
) -> None:
    """D185: the checkpoint's fingerprint is the state's model, not the whole code. A build
    that changes only what the node does (here: a module of the node, and the body of a method
    of a core class) reads the checkpoint of the build before it; one that adds a field to a
    class a case holds, or renames an enum member a case state uses, does not."""
    import shutil

    import eessi

    package = Path(eessi.__file__).parent

    def build(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(package, root / "eessi", ignore=shutil.ignore_patterns("__pycache__"))
        return root

    before = _fingerprint_of(build("before"))
    behaviour = build("behaviour")
    node = behaviour / "eessi" / "node" / "institution.py"
    node.write_text(node.read_text() + "\n\ndef _added_in_an_upgrade() -> int:\n    return 1\n")
    registry = behaviour / "eessi" / "core" / "registry.py"
    registry.write_text("# an upgrade: lines moved\n\n" + registry.read_text())
    assert _fingerprint_of(behaviour) == before

    field = build("field")
    case = field / "eessi" / "core" / "case.py"
    text = case.read_text()
    assert "class DocumentRef:" in text
    case.write_text(
        text.replace("class DocumentRef:", "class DocumentRef:\n    added_field: int\n", 1)
    )
    assert _fingerprint_of(field) != before

    member = build("member")
    table = member / "eessi" / "core" / "buc_table.py"
    text = table.read_text()
    assert 'COMPLETED = "completed"' in text
    table.write_text(text.replace('COMPLETED = "completed"', 'COMPLETED = "done"', 1))
    assert _fingerprint_of(member) != before


async def test_every_class_a_checkpoint_holds_is_in_the_fingerprinted_model(
    tmp_path: Path,
) -> None:
    """What the fingerprint covers (D185) is every class a real checkpoint names: its table of
    globals, and the classes inside its cases' encoded documents: a packed case's blob names
    classes by tag (D425), each of them listed in the header's ``compact``, as does a case
    stored in compact's form (D440)."""
    import io
    import json
    import marshal
    import pickle

    from eessi.core import compact
    from eessi.core.compact import CompactDocuments
    from eessi.node.checkpoint import (
        LazyDocuments,
        _Codec,
        _resolve,
        _unpack,
        model_modules,
    )

    directory = load_directory(write_directory(tmp_path))
    households = people(3)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(3)])
    named: set[str] = set()

    class Names(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            named.add(module)
            return super().find_class(module, name)

    tags: set[int] = set()

    def blob_tags(parts: Any) -> None:
        if type(parts) in (tuple, list):
            if type(parts) is tuple and parts and type(parts[0]) is int and parts[0] >= 8:
                tags.add(parts[0])
            for part in parts[1:] if type(parts) is tuple else parts:
                blob_tags(part)

    def documents(obj: Any, depth: int = 0) -> None:
        for slot in getattr(type(obj), "__slots__", ()) if depth < 8 else ():
            value = getattr(obj, slot, None)
            if isinstance(value, LazyDocuments):
                Names(io.BytesIO(value.__reduce__()[1][0])).load()
            elif isinstance(value, CompactDocuments):
                packed = value.packed()
                assert packed is not None
                blob_tags(compact._unpack(packed[1]))
            elif hasattr(type(value), "__slots__"):
                documents(value, depth + 1)

    compact_cases = 0
    for db in (cns_db(tmp_path), tmp_path / journal_file_name(FR)):
        with sqlite3.connect(db) as conn:
            header = json.loads(conn.execute("SELECT header FROM checkpoint").fetchone()[0])
            rows = conn.execute("SELECT key, value FROM checkpoint_items").fetchall()
        codec = _Codec(header["globals"])
        named.update(name.split(" ")[1] for name in header["globals"] if name != "utc")
        listed = {compact._tag_of(_resolve(name)) for name in header["compact"]}
        named.update(name.split(" ")[1] for name in header["compact"])
        for key, value in rows:
            if key[0] == 2:  # a packed table's row (D220): the classes it names are globals
                for obj in _unpack(codec, value)[1]:
                    documents(obj)
            else:
                data = value[2 + value[1] :] if value[0] == 0 else value
                if data[0] == 1:  # a case in compact's form (D440): its classes by tag too
                    blob_tags(marshal.loads(data[1:]))
                    compact_cases += 1
                documents(codec.load_entry(data))
        assert tags  # the blobs were looked into
        assert tags <= listed  # every class a blob names is in the header's list
        tags.clear()
    assert "eessi.sed.documents" in named  # the documents were looked into
    assert compact_cases == 6  # each side's 3 cases
    outside = named - set(model_modules()) - {"datetime", "eessi.node.checkpoint", "builtins"}
    assert not outside, f"classes of {sorted(outside)} are checkpointed but not fingerprinted"


async def test_a_restart_reads_a_deferred_case_from_the_journal_when_an_input_first_needs_it(
    tmp_path: Path,
) -> None:
    """D186: a restart keeps of a completed case only its key and summary; the case is read
    from the journal when an input first reads it. A case's entry changed in the journal after
    the start (here: damaged) is therefore what that input finds (it fails, marked failed),
    while a case whose late X008 comes in the same way, untouched, reopens as before."""

    directory = load_directory(write_directory(tmp_path))
    households = people(2)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, ["ckpt-000/spouse", "ckpt-001/spouse"])
        damaged, sound = sorted(net[FR].desk.snapshot().cases)
    async with network(tmp_path, directory, households, every=0) as net:
        cns = net[CNS]
        assert cns.stats["replayed"] == 0
        assert deferred_cases(cns) == 2
        with sqlite3.connect(cns_db(tmp_path)) as conn:  # after the restore, before any input
            conn.execute(
                "UPDATE checkpoint_items SET value = x'00008005deadbeef'"
                " WHERE tbl = 'cases' AND key = ?",
                (b"\x00" + damaged.encode(),),
            )
            assert conn.total_changes == 1
        await _only_the_damaged_case_fails(net, damaged, sound)


async def test_a_state_kept_from_before_a_checkpoint_reads_its_own_deferred_values(
    tmp_path: Path,
) -> None:
    """D186: a deferred value is read from the journal when first needed, so a checkpoint that
    overwrites or removes its entry first makes it (as it was): a version of the state kept
    from before (what a rollback holds) reads its own value, never the new one; and a state
    read after its journal is closed reads the values as they were at close."""
    from eessi.core.desk import PersistentMap
    from eessi.node.checkpoint import DeskCheckpoints

    directory = load_directory(write_directory(tmp_path))
    households = people(3)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(3)])
        fresh = net[CNS].make_desk(net[CNS].step_clock, net[CNS].step_ids, None).snapshot()
        written = net[CNS].desk.snapshot()
    changed, gone, kept = sorted(written.cases)
    journal = await open_journal(cns_db(tmp_path))
    try:
        checkpoints = DeskCheckpoints(journal, CNS)
        before = await checkpoints.restore(fresh)
        assert before is not None
        assert all(type(v).__name__ == "Deferred" for _, v in before.cases.raw_items())
        # a later state: one case replaced and one removed, neither read (never made)
        assert isinstance(before.cases, PersistentMap)
        later = {k: v for k, v in before.cases.raw_items() if k != gone}
        later[changed] = written.cases[kept]
        after = replace(before, cases=PersistentMap(later))
        assert await checkpoints.save(after) == 3  # 2 rows, and their index's (D220)
        with sqlite3.connect(cns_db(tmp_path)) as conn:
            assert conn.execute(
                "SELECT count(*) FROM checkpoint_items WHERE tbl = 'cases' AND key = ?",
                (b"\x00" + gone.encode(),),
            ).fetchone() == (0,)
        assert before.cases[changed] == written.cases[changed]
        assert before.cases[gone] == written.cases[gone]
        assert after.cases[changed] == written.cases[kept]
    finally:
        await journal.close()
    assert before.cases[kept] == written.cases[kept]  # read after close: as at close


async def _only_the_damaged_case_fails(net: Network, damaged: str, sound: str) -> None:
    """The fund withdraws both cases' S073 (X008): the CNS fails the one whose checkpoint entry
    is damaged (processing_failed, "cannot be decoded") and processes the other."""
    from eessi.node.inputs import InvalidateDocument

    cns = net[CNS]
    for case_id in (damaged, sound):
        await net[FR].submit(InvalidateDocument(case_id, "S073"))
    async with asyncio.timeout(60):
        await net.idle()
    inbound = await cns.journal.messages(direction=Direction.IN)
    x008 = {r.conversation_id: r for r in inbound if r.sed_type == "X008"}
    assert x008[damaged].status.value == "processing_failed"
    assert "cannot be decoded" in (x008[damaged].last_error or "")
    assert x008[sound].status.value == "processed"
    assert cns.desk.snapshot().cases[sound].state.value == "awaiting-confirmation"
