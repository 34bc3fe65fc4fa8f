"""A households directory indexed once: the next start reads the index and each household
when first looked up, sees files added, changed or removed, and refuses what it refused (D150)."""

from __future__ import annotations

import json
import marshal
import os
import time
from pathlib import Path

import pytest

from eessi.core.registry import CnsRegistry
from eessi.errors import ConfigError, DomainError
from eessi.node.household_index import INDEX_FILE, STAMP_FILE, household_source
from eessi.node.households import load_households


def household(n: int, *, pin: str | None = None, name: str | None = None) -> dict[str, object]:
    return {
        "format": "eessi-household/1",
        "id": f"idx-{n:04d}",
        "main_insured": [
            {
                "id": "main",
                "pin": pin or f"19800101{n:05d}",
                "name": name or f"Paul Idx{n}",
                "date_of_birth": "1980-01-01",
                "affiliated_since": "2020-01-01",
            }
        ],
        "members": [],
    }


def write(where: Path, n: int, **kw: str) -> Path:
    path = where / f"idx-{n:04d}.json"
    path.write_text(json.dumps(household(n, **kw)), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    where = tmp_path / "households"
    where.mkdir()
    for n in range(30):
        write(where, n)
    return where


def test_households_indexed_once_are_looked_up_without_parsing_every_file(folder: Path) -> None:
    first = household_source(folder, index_from=10)
    assert len(first.parsed) == 30
    assert (folder / INDEX_FILE).exists()
    again = household_source(folder, index_from=10)
    assert again.parsed == {}  # nothing parsed: the index said it all
    assert again.digest == first.digest
    registry = again.registry()
    assert len(registry) == 30
    entry = registry.require_main("1980010100007")
    assert entry.key == "idx-0007"
    assert entry.household.main_insured[0].name == "Paul Idx7"
    assert list(again.parsed) == ["idx-0007.json"]  # the one looked up
    # the whole registry, in file order, as loading every file gives
    assert [e.household for e in registry] == load_households(folder)


def test_a_file_changed_added_or_removed_since_the_index_is_seen_at_the_next_start(
    folder: Path,
) -> None:
    first = household_source(folder, index_from=10)
    changed = write(folder, 3, pin="1975010100003", name="Renamed Idx3")
    os.utime(changed, ns=(1, 1))  # another time than the index's, whatever the clock's step
    write(folder, 99)
    (folder / "idx-0005.json").unlink()
    again = household_source(folder, index_from=10)
    assert sorted(again.parsed) == ["idx-0003.json", "idx-0099.json"]
    assert again.digest != first.digest
    registry = again.registry()
    assert registry.by_main_pin("1980010100003") is None  # the old PIN is gone with the edit
    assert registry.require_main("1975010100003").household.main_insured[0].name == "Renamed Idx3"
    assert registry.by_main_pin("1980010100099") is not None
    with pytest.raises(DomainError):
        registry.entry("idx-0005")
    assert len(registry) == 30


def test_a_bad_file_added_after_the_index_is_refused_at_start_with_its_path(folder: Path) -> None:
    household_source(folder, index_from=10)
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        household_source(folder, index_from=10)
    assert "broken.json" in str(info.value.where)


def test_a_main_insured_pin_in_two_households_is_refused_even_when_indexed(folder: Path) -> None:
    household_source(folder, index_from=10)
    write(folder, 40, pin="1980010100002")  # household 2's PIN
    with pytest.raises(DomainError) as info:
        household_source(folder, index_from=10).registry()
    assert info.value.code == "domain.bad-registry"


def test_an_index_written_by_other_code_is_ignored(folder: Path) -> None:
    household_source(folder, index_from=10)
    raw = (folder / INDEX_FILE).read_bytes()
    header, body = raw.split(b"\n", 1)
    data = list(marshal.loads(body))
    data[0] = "someone else's"
    data[5] = ["wrong"] * len(data[5])
    (folder / INDEX_FILE).write_bytes(header + b"\n" + marshal.dumps(tuple(data)))
    again = household_source(folder, index_from=10)
    assert len(again.parsed) == 30
    assert again.registry().entry("idx-0001").key == "idx-0001"


def test_an_older_json_index_is_read_as_none_and_written_again_in_the_new_form(
    folder: Path,
) -> None:
    """D211: the index of a node before D211 (JSON, one array per field) is not read: the
    files are parsed as at a first start and the index is written again, marshal's form;
    the next starts take the files from it, with the same digest as a listed start."""
    first = household_source(folder, index_from=10)
    files = first.files
    old = {
        "format": "eessi-households-index/1",
        "names": list(files),
        "sizes": [i[0] for i in files.values()],
        "times": [i[1] for i in files.values()],
        "keys": ["wrong"] * len(files),
        "pins": [" ".join(i[3]) for i in files.values()],
    }
    (folder / INDEX_FILE).write_text(json.dumps(old), encoding="utf-8")
    again = household_source(folder, index_from=10)
    assert len(again.parsed) == 30  # parsed, the JSON index not trusted
    assert (folder / INDEX_FILE).read_bytes().startswith(b"eessi-households-index marshal ")
    third = household_source(folder, index_from=10)
    assert third.parsed == {}  # from the new index
    assert third.files == first.files
    assert third.digest == first.digest
    assert third.registry().entry("idx-0001").key == "idx-0001"


def test_a_damaged_index_is_read_as_none(folder: Path) -> None:
    household_source(folder, index_from=10)
    raw = (folder / INDEX_FILE).read_bytes()
    (folder / INDEX_FILE).write_bytes(raw[: len(raw) // 2])  # cut short (a full disk)
    again = household_source(folder, index_from=10)
    assert len(again.parsed) == 30
    assert household_source(folder, index_from=10).parsed == {}


def test_an_indexed_registry_refuses_a_key_twice_as_the_entries_form_does() -> None:
    def never(key: str) -> object:
        raise AssertionError(key)

    with pytest.raises(DomainError) as info:
        CnsRegistry.indexed([("a", ["1"]), ("a", ["2"])], never)  # type: ignore[arg-type]
    assert "two households have the key 'a'" in str(info.value)


async def test_a_restart_with_the_same_households_does_not_journal_them_again(
    folder: Path, tmp_path: Path
) -> None:
    """Each start is noted; the households are journaled at the first start and when they
    change, and the trace export still finds the current ones (D150)."""
    from node_kit import CNS, write_directory

    from eessi.directory import load_directory
    from eessi.node.institution import NodeOptions
    from eessi.node.network import open_institution
    from eessi.trace.runlog import HOUSEHOLDS_LOG, RUN_LOG, config_from_journals, note_run

    directory = load_directory(write_directory(tmp_path))
    db = tmp_path / "cns.sqlite"

    async def start_and_stop() -> list[object]:
        source = household_source(folder, index_from=10)
        inst = await open_institution(
            directory.get(CNS), directory, db, households=source,
            options=NodeOptions(bind_admin=False),
        )  # fmt: skip
        note_run(inst, households=source, seed=1)
        try:
            await inst.start(host="127.0.0.1", port=0)
            await inst.stop()
            config = await config_from_journals([inst.journal])
            noted = [len(await inst.journal.case_events(c)) for c in (RUN_LOG, HOUSEHOLDS_LOG)]
        finally:
            await inst.journal.close()
        return [noted, [h["id"] for h in config["households"]]]

    ids = [f"idx-{n:04d}" for n in range(30)]
    assert await start_and_stop() == [[1, 1], ids]
    assert await start_and_stop() == [[2, 1], ids]  # the same households: not written again
    write(folder, 77)
    assert await start_and_stop() == [[3, 2], sorted([*ids, "idx-0077"])]


def settled(folder: Path) -> None:
    """The directory last changed an hour ago (longer than RACY_NS)."""
    old = time.time_ns() - 3600 * 10**9
    os.utime(folder, ns=(old, old))


def stamped(folder: Path) -> None:
    """Indexed, then checked as indexed by a second start: the stamp is written (D188)."""
    household_source(folder, index_from=10)  # the index
    settled(folder)
    second = household_source(folder, index_from=10)
    assert not second.trusted
    assert (folder / STAMP_FILE).read_text()


def test_a_directory_checked_as_indexed_is_taken_from_the_index_without_listing_it(
    folder: Path,
) -> None:
    """D188: the third start finds the stamp true and lists nothing; its registry is the
    one a listing gives."""
    stamped(folder)
    third = household_source(folder, index_from=10)
    assert third.trusted
    assert third.parsed == {}
    assert third.digest == household_source(folder, index_from=10).digest
    assert third.registry().require_main("1980010100007").household.main_insured[0].name == (
        "Paul Idx7"
    )


def test_a_directory_changed_moments_ago_is_not_stamped(folder: Path) -> None:
    """A change in the same tick as the stamp could go unseen: a directory changed less than
    RACY_NS ago is listed at every start until it is older (D188)."""
    household_source(folder, index_from=10)
    household_source(folder, index_from=10)
    assert not household_source(folder, index_from=10).trusted
    settled(folder)
    household_source(folder, index_from=10)
    assert household_source(folder, index_from=10).trusted


def test_a_file_added_removed_or_replaced_after_the_stamp_is_seen_at_the_next_start(
    folder: Path,
) -> None:
    stamped(folder)
    write(folder, 99)  # a new file: the directory's time changes
    again = household_source(folder, index_from=10)
    assert not again.trusted
    assert again.registry().by_main_pin("1980010100099") is not None
    settled(folder)
    household_source(folder, index_from=10)  # stamped again
    replacement = folder / "tmp-edit"
    replacement.write_text(json.dumps(household(4, pin="1975010100004")), encoding="utf-8")
    replacement.rename(folder / "idx-0004.json")  # an editor's save: a rename over the file
    after = household_source(folder, index_from=10)
    assert not after.trusted
    assert after.registry().by_main_pin("1975010100004") is not None
    assert after.registry().by_main_pin("1980010100004") is None


def test_a_file_rewritten_in_place_after_the_stamp_is_never_used_stale(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """D188: a file rewritten in place keeps the directory's time, so the start trusts the
    index; the household is read from its file when first looked up (its new content), the
    change is logged and the stamp cleared; a changed main insured PIN is refused (the start
    indexed the old one), and the next start lists the directory and takes the new PIN."""
    stamped(folder)
    mtime_before = folder.stat().st_mtime_ns
    with open(folder / "idx-0006.json", "w", encoding="utf-8") as f:  # in place, as ``cp`` does
        f.write(json.dumps(household(6, name="Renamed Idx6")))
    with open(folder / "idx-0008.json", "w", encoding="utf-8") as f:
        f.write(json.dumps(household(8, pin="1975010100008")))
    assert folder.stat().st_mtime_ns == mtime_before  # nothing a listing-free start can see
    source = household_source(folder, index_from=10)
    assert source.trusted
    registry = source.registry()
    with caplog.at_level("WARNING", logger="eessi.node"):
        six = registry.require_main("1980010100006")
    assert six.household.main_insured[0].name == "Renamed Idx6"  # never the indexed past
    assert any("idx-0006.json changed in place" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError) as info:
        registry.require_main("1980010100008")
    assert "idx-0008.json" in str(info.value)
    assert "1975010100008" in str(info.value)
    after = household_source(folder, index_from=10)
    assert not after.trusted
    assert after.registry().require_main("1975010100008").key == "idx-0008"
