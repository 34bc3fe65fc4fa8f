"""The desk's ID generators: version-4 UUID texts exactly as :mod:`uuid` writes them."""

from __future__ import annotations

import random
import uuid

from eessi.ids import RandomIds, SeededIds, uuid4_text


def test_uuid4_text_is_the_text_of_uuid_with_version_4() -> None:
    rng = random.Random(7)
    values = [0, 2**128 - 1, 1 << 76, 0xC000 << 48, *(rng.getrandbits(128) for _ in range(5000))]
    for value in values:
        assert uuid4_text(value) == str(uuid.UUID(int=value, version=4))


def test_a_seeded_generator_draws_the_same_uuids_as_before() -> None:
    """The sequence a seed gives is unchanged (kept journals replay their recorded IDs, and
    seeded runs are compared byte for byte): the text ``uuid.UUID`` made of the same draws."""
    ids, rng = SeededIds(42), random.Random(42)
    for _ in range(200):
        assert ids.uuid() == str(uuid.UUID(int=rng.getrandbits(128), version=4))
    assert ids.case_id("FR") == f"FR-{rng.getrandbits(48):012X}"


def test_random_uuids_are_version_4_and_distinct() -> None:
    drawn = [RandomIds().uuid() for _ in range(2000)]
    assert len(set(drawn)) == len(drawn)
    for text in drawn:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
