"""Identifiers, injected. The core asks an :class:`IdGenerator`; a seeded one makes runs
reproducible byte for byte, :class:`RandomIds` is for live institutions."""

from __future__ import annotations

import os
import random
import uuid
import zlib
from typing import Final, Protocol

__all__ = ["IdGenerator", "RandomIds", "SeededIds", "institution_seed", "uuid4_text"]

#: The variant and version bits of a version-4 UUID, as :class:`uuid.UUID` sets them.
_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_SET: Final = (0x8000 << 48) | (4 << 76)


def uuid4_text(value: int) -> str:
    """``str(uuid.UUID(int=value, version=4))``, the same text, without making the
    :class:`uuid.UUID` (its pure-Python ``__init__`` and ``__str__``: about 3 µs of the
    4 µs a node's desk spent per ID, D401)."""
    h = f"{value & _CLEAR | _SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
        return uuid4_text(self._rng.getrandbits(128))

    def case_id(self, country: str) -> str:
        return f"{country}-{self._rng.getrandbits(48):012X}"


class RandomIds:
    """Fresh random IDs (for live institutions)."""

    def rewind(self) -> None:
        """Nothing to go back to: random IDs have no sequence."""

    def uuid(self) -> str:
        return uuid4_text(int.from_bytes(os.urandom(16)))  # what uuid.uuid4() draws

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
