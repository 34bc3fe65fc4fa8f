"""Identifiers, injected. The core asks an :class:`IdGenerator`; a seeded one makes runs
reproducible byte for byte, :class:`RandomIds` is for live institutions."""

from __future__ import annotations

import random
import uuid
import zlib
from typing import Protocol

__all__ = ["IdGenerator", "RandomIds", "SeededIds", "institution_seed"]


class IdGenerator(Protocol):
    """Makes unique identifiers: UUIDs for documents and messages, case IDs."""

    def uuid(self) -> str:
        """A UUID (version 4 form), lower case."""
        ...

    def case_id(self, country: str) -> str:
        """A case ID for an institution of ``country``: ``LU-1A2B3C4D5E6F``."""
        ...


class SeededIds:
    """Deterministic IDs from a seed: the same seed gives the same sequence."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def rewind(self) -> None:
        """Back to the start of the sequence (a reset of the run: the same IDs again)."""
        self._rng.seed(self.seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def case_id(self, country: str) -> str:
        return f"{country}-{self._rng.getrandbits(48):012X}"


class RandomIds:
    """Fresh random IDs (for live institutions)."""

    def rewind(self) -> None:
        """Nothing to go back to: random IDs have no sequence."""

    def uuid(self) -> str:
        return str(uuid.uuid4())

    def case_id(self, country: str) -> str:
        return f"{country}-{uuid.uuid4().int >> 80:012X}"


def institution_seed(seed: int, ir_id: str, stream: str = "") -> int:
    """The seed of one institution's generator (``stream``: which one, e.g. ``"signals"``).

    Two ``eessi serve`` processes given the same ``--seed`` must not draw the same IDs (the
    CNS's S072 would get the document ID of the fund's S071): the institution ID is mixed in.
    Same seed, same institution: same sequence (runs stay reproducible). The one rule for every
    seeded generator of a node: desk IDs, jitter, and the transport's signal IDs."""
    salt = zlib.crc32(f"{ir_id}#{stream}".encode() if stream else ir_id.encode())
    return seed * 2**32 + salt
