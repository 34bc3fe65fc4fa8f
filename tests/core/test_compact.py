"""Compact storage of what a desk keeps long: documents and households come back equal."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eessi.core.buc_table import Role
from eessi.core.case import Deadlines
from eessi.core.compact import (
    PENDING_CASES,
    RECENT_DOCUMENTS,
    CompactDocuments,
    decode,
    decode_uncompressed,
    encode,
    encode_uncompressed,
    kept_decoded,
)
from eessi.core.facts import DocumentKind
from eessi.core.household import Household
from eessi.core.registry import RECENT, CnsRegistry, RegistryEntry
from eessi.sed.catalogue import SEDS
from eessi.sed.examples import example
from eessi.sed.model import Address, EuAddress, Sex
from tests.core.household_builders import child, household, main, spouse

CODES = sorted(SEDS)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_example_sed_comes_back_equal_from_its_compact_bytes(code: str, seed: int) -> None:
    sed = example(code, seed=seed)
    data = encode(sed)
    back = decode(data)
    assert back == sed
    assert type(back) is type(sed)
    assert back.to_xml() == sed.to_xml()


def test_compact_bytes_of_a_document_are_a_fraction_of_its_objects() -> None:
    sed = example("S072")
    assert len(encode(sed)) < 600


def _entry() -> RegistryEntry:
    kid = child(
        documents=frozenset({DocumentKind.BIRTH_CERTIFICATE}),
        monthly_resources=Decimal("12.50"),
    )
    return RegistryEntry(
        household(spouse(), kid, mains=(main(),)),
        address=Address(street="rue de la Gare 3", town="Luxembourg", country="LU"),
        member_addresses={"eva": EuAddress(town="Braga", country="PT")},
        sexes={"marc": Sex.MALE, "eva": Sex.FEMALE},
        member_pins={"lea": "2015050512345"},
    )


def test_a_household_with_its_sets_amounts_and_mappings_comes_back_equal() -> None:
    entry = _entry()
    back = decode(encode(entry))
    assert back == entry
    lea = back.household.member("lea")
    assert lea.documents == frozenset({DocumentKind.BIRTH_CERTIFICATE})
    assert lea.monthly_resources == Decimal("12.50")


def test_datetimes_with_and_without_timezone_come_back_equal() -> None:
    values = (datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 2, 9, 30), None, 1.5)
    assert decode(encode(values)) == values


def test_a_case_record_with_its_deadlines_comes_back_equal_without_deflating() -> None:
    # A node's checkpoint stores a case's record so (D440): timedeltas, enums, datetimes.
    deadlines = Deadlines(reply_within=timedelta(days=60), escalate_after=timedelta(seconds=90))
    values = (deadlines, timedelta(days=-1, microseconds=5), Role.COUNTERPARTY, Deadlines())
    data = encode_uncompressed(values)
    assert decode_uncompressed(data) == values
    assert decode(encode(values)) == values


def test_an_object_held_in_several_places_is_written_once_and_decodes_equal() -> None:
    # A case's record holds its exchanges in its history and in effect, one datetime in
    # each (D442): written once, then as a reference.
    at = datetime(2026, 12, 6, 21, 40, tzinfo=UTC)
    shared = (Deadlines(), at, at, at, Deadlines())
    alike = (Deadlines(), at, at.replace(), at.replace(), Deadlines())
    assert decode_uncompressed(encode_uncompressed(shared)) == shared
    assert decode_uncompressed(encode_uncompressed(alike)) == alike
    assert len(encode_uncompressed(shared)) < len(encode_uncompressed(alike)) - 40


def test_values_a_mapping_makes_on_reading_are_each_encoded_as_they_are() -> None:
    # Objects made while encoding and dropped at once may be given the same id in turn:
    # each is encoded for what it is, never as another that had its id before.
    class MadeOnRead(Mapping[str, Deadlines]):
        def __getitem__(self, key: str) -> Deadlines:
            return Deadlines(reply_within=timedelta(days=int(key)))

        def __iter__(self) -> Iterator[str]:
            return iter(str(n) for n in range(1, 40))

        def __len__(self) -> int:
            return 39

    back = decode_uncompressed(encode_uncompressed(MadeOnRead()))
    assert back == {str(n): Deadlines(reply_within=timedelta(days=n)) for n in range(1, 40)}


def test_documents_inside_an_encoded_value_keep_their_blob_and_decode_when_read() -> None:
    # A case's documents inside its checkpointed record (D440): the blob as it is, and the
    # mapping it comes back as decodes nothing until a document is read.
    s071, s072 = example("S071", seed=3), example("S072", seed=3)
    docs = CompactDocuments({"d-1": s071}).with_document("d-2", s072)
    blob = docs.packed()
    assert blob is not None
    back = decode_uncompressed(encode_uncompressed(("case", docs)))
    assert back == ("case", {"d-1": s071, "d-2": s072})
    assert type(back[1]) is CompactDocuments
    assert back[1].packed() == blob  # the very bytes, not decoded and encoded again
    with kept_decoded():  # documents with no blob: the mapping of the decoded ones
        kept = CompactDocuments({"d-1": s071})
        assert decode_uncompressed(encode_uncompressed(kept)) == {"d-1": s071}


def test_a_class_that_is_not_a_slotted_dataclass_is_refused_with_its_name() -> None:
    @dataclass(frozen=True)
    class Loose:
        x: int

    with pytest.raises(TypeError, match="Loose"):
        encode(Loose(1))


def test_compact_documents_read_like_the_dict_they_replace() -> None:
    s071, s072 = example("S071"), example("S072")
    docs = CompactDocuments({"d-1": s071}).with_document("d-2", s072)
    assert docs == {"d-1": s071, "d-2": s072}
    assert list(docs) == ["d-1", "d-2"]
    assert len(docs) == 2
    assert docs["d-2"] == s072
    assert "d-1" in docs
    assert "d-3" not in docs
    assert docs.get("d-3") is None
    with pytest.raises(KeyError):
        docs["d-3"]


def test_a_new_version_replaces_the_document_of_the_same_id() -> None:
    first, second = example("S072", seed=0), example("S072", seed=1)
    docs = CompactDocuments({"d-2": first}).with_document("d-2", second)
    assert docs == {"d-2": second}


def test_compact_documents_read_after_many_others_are_decoded_equal() -> None:
    s071 = example("S071")
    docs = CompactDocuments({"d-1": s071})
    for i in range(PENDING_CASES + RECENT_DOCUMENTS + 1):  # d-1 gets encoded, then pushed out
        CompactDocuments({f"x-{i}": example("X001")})[f"x-{i}"]
    assert docs["d-1"] == s071


def test_the_documents_of_packed_cases_read_in_turns_are_each_cases_own() -> None:
    # A checkpoint reads every document of a case (dict(...)); cases are read one after the
    # other and a case's blob is unpacked once for all its documents (D420).
    one = {"d-1": example("S071", seed=0), "d-2": example("S072", seed=0)}
    two = {"e-1": example("S071", seed=1), "e-2": example("S072", seed=1)}
    first, second = CompactDocuments(one), CompactDocuments(two)
    for i in range(PENDING_CASES + RECENT_DOCUMENTS + 1):  # both encoded, then evicted
        CompactDocuments({f"x-{i}": example("X001")})[f"x-{i}"]
    assert first["d-2"] == one["d-2"]
    assert second["e-1"] == two["e-1"]
    assert first["d-1"] == one["d-1"]
    assert second["e-2"] == two["e-2"]
    assert dict(first) == one
    assert dict(second) == two


def test_documents_recorded_inside_kept_decoded_are_never_encoded() -> None:
    s071, s072 = example("S071"), example("S072")

    def crowd() -> None:  # enough other cases to encode (then evict) an earlier document
        for i in range(PENDING_CASES + RECENT_DOCUMENTS + 1):
            CompactDocuments({f"x-{i}": example("X001")})[f"x-{i}"]

    with kept_decoded():
        kept = CompactDocuments({"d-1": s071}).with_document("d-2", s072)
        crowd()
        assert kept["d-1"] is s071  # the very object: never encoded, so never decoded again
        assert kept["d-2"] is s072
    crowd()
    assert kept["d-1"] is s071  # still decoded after the block
    packed = CompactDocuments({"d-1": s071})  # outside it: encoded in its turn, as before
    crowd()
    assert packed["d-1"] == s071
    assert packed["d-1"] is not s071
    assert pickle.loads(pickle.dumps(kept)) == {"d-1": s071, "d-2": s072}


def test_documents_recorded_over_time_are_encoded_later_and_read_back_equal() -> None:
    first, second, answer = example("S072", seed=0), example("S072", seed=1), example("S073")
    docs = CompactDocuments({"d-1": example("S071")})
    kept = [docs]
    for i in range(4):  # each step: a new version, then enough other cases to encode it
        docs = docs.with_document("d-2", first if i % 2 else second)
        kept.append(docs)
        for j in range(PENDING_CASES + 1):
            CompactDocuments({f"x-{j}": example("X001")})
    docs = docs.with_document("d-3", answer)
    for j in range(PENDING_CASES + RECENT_DOCUMENTS + 1):
        CompactDocuments({f"x-{j}": example("X001")})[f"x-{j}"]
    assert docs == {"d-1": example("S071"), "d-2": first, "d-3": answer}
    assert kept[0] == {"d-1": example("S071")}
    assert kept[1] == {"d-1": example("S071"), "d-2": second}
    assert kept[2] == {"d-1": example("S071"), "d-2": first}
    assert pickle.loads(pickle.dumps(docs)) == docs


def test_compact_documents_pickle_and_copy_as_their_decoded_dict() -> None:
    docs = CompactDocuments({"d-1": example("S071")})
    assert pickle.loads(pickle.dumps(docs)) == {"d-1": example("S071")}
    assert copy.deepcopy(docs) == docs


def _entries() -> list[RegistryEntry]:
    """More households than a registry keeps decoded (``RECENT``), each with its own PIN."""
    return [
        RegistryEntry(
            Household(
                main_insured=(main(pin=f"1980010100{i:03d}"),), members=(spouse(),), id=f"h{i}"
            ),
            address=Address(town="Luxembourg", country="LU"),
        )
        for i in range(RECENT + 10)
    ]


def test_the_registry_finds_a_household_equal_to_the_one_given_after_many_lookups() -> None:
    entries = _entries()
    registry = CnsRegistry(entries)
    for entry in entries:  # more than RECENT: the first ones are decoded again
        assert registry.by_main_pin(entry.household.main_insured[0].pin) == entry
    assert registry.entry(entries[0].key) == entries[0]
    assert list(registry) == entries


def test_a_registry_made_inside_kept_decoded_returns_the_very_entries_given() -> None:
    entries = _entries()
    with kept_decoded():
        registry = CnsRegistry(entries)
        indexed = CnsRegistry.indexed(
            ((e.key, [e.household.main_insured[0].pin]) for e in entries),
            {e.key: e for e in entries}.__getitem__,
        )
        for entry in entries:  # more than RECENT: none was encoded, none is decoded again
            assert registry.by_main_pin(entry.household.main_insured[0].pin) is entry
            assert indexed.by_main_pin(entry.household.main_insured[0].pin) is entry
    assert registry.entry(entries[0].key) is entries[0]  # still objects after the block
    assert indexed.entry(entries[0].key) is entries[0]
    assert list(registry) == entries
    outside = CnsRegistry(entries)  # outside it: kept as bytes, as before
    assert outside.entry(entries[0].key) == entries[0]
    assert outside.entry(entries[0].key) is not entries[0]
