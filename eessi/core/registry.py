"""The CNS's view of its insured: households plus what a SED needs and a household lacks.

A :class:`~eessi.core.household.Household` holds what the rules need. To write a SED about its
people the CNS also needs their sex, addresses and, for members already known, their Luxembourg
PIN; a :class:`RegistryEntry` adds those. The :class:`CnsRegistry` finds an entry by any main
insured's PIN (how an S071 names the family) or by a member's PIN.

The RNPP lookup of R14/R15 is the member's ``rnpp_registered`` flag (a *(sim)* register).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from eessi.core.compact import decode, encode, packing
from eessi.core.household import Household
from eessi.errors import DomainError
from eessi.sed.model import Address, EuAddress, Sex

__all__ = ["RECENT", "CnsRegistry", "RegistryEntry"]

#: How many entries a registry keeps as objects (the latest looked up), besides their bytes.
RECENT: Final = 256


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One household as the CNS knows it."""

    household: Household
    #: Address of the (first) main insured, anywhere in the world (``AddressMainInsuredPerson``).
    address: Address
    #: Addresses of members living elsewhere than the main insured, by member ID.
    member_addresses: Mapping[str, EuAddress] = field(default_factory=dict)
    #: Sex of each person (main insured and members), by ID; unknown (``98``) if absent.
    sexes: Mapping[str, Sex] = field(default_factory=dict)
    #: Luxembourg PIN (matricule) of members who have one, by member ID.
    member_pins: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The household's key in the registry: its ``id``, else its first main insured's PIN."""
        return self.household.id or self.household.main_insured[0].pin

    def sex(self, person_id: str) -> Sex:
        return self.sexes.get(person_id, Sex.UNKNOWN)


class CnsRegistry:
    """The CNS's households, found by main insured PIN, member PIN or key. Immutable.

    Built from entries, or **indexed** (:meth:`indexed`): from each household's key and main
    insured PINs, with a function that makes an entry when it is first looked up. A node with
    100,000 households starts without reading them all (the node keeps the index, D150).

    Entries are kept as compact bytes (:func:`~eessi.core.compact.encode`, a third of the
    objects' memory) and the last :data:`RECENT` looked up as objects: a lookup of a household
    not among them decodes it (tens of µs, D191). Made inside
    :func:`~eessi.core.compact.kept_decoded` (a run that ends with its desks: the offline
    replay), entries stay objects: neither encoded when added nor decoded when looked up
    (D340). A lookup returns an entry equal to the one
    given, not always the same object."""

    __slots__ = ("_by_key", "_by_main_pin", "_by_member_pin", "_load", "_recent")

    def __init__(self, entries: Iterable[RegistryEntry] = ()) -> None:
        #: Key -> its entry's bytes (or the entry itself, made inside ``kept_decoded``), or
        #: ``None`` while an indexed registry has not made it yet.
        self._by_key: dict[str, bytes | RegistryEntry | None] = {}
        #: The entries looked up last, by key, the latest last.
        self._recent: dict[str, RegistryEntry] = {}
        #: Main insured PIN -> household key.
        self._by_main_pin: dict[str, str] = {}
        self._by_member_pin: dict[str, tuple[str, str]] = {}
        self._load: Callable[[str], RegistryEntry] | None = None
        for entry in entries:
            self._add(entry.key, [m.pin for m in entry.household.main_insured], entry)
            for member_id, pin in entry.member_pins.items():
                entry.household.member(member_id)  # DomainError for an unknown member
                self._by_member_pin[pin] = (entry.key, member_id)

    @classmethod
    def indexed(
        cls,
        index: Iterable[tuple[str, Iterable[str]]],
        load: Callable[[str], RegistryEntry],
    ) -> CnsRegistry:
        """A registry of the households ``index`` lists, as ``(key, main insured PINs)``, whose
        entries ``load(key)`` makes on first use (entries without member PINs: the node's
        :func:`~eessi.node.households.registry_entry` gives none). Refuses a key or a main
        insured PIN that appears twice, as the entries' form does."""
        registry = cls()
        registry._load = load
        for key, pins in index:
            registry._add(key, pins, None)
        return registry

    def _add(self, key: str, pins: Iterable[str], entry: RegistryEntry | None) -> None:
        if key in self._by_key:
            raise DomainError(
                f"two households have the key {key!r}",
                hint="give every household of the registry its own id",
                code="domain.bad-registry",
            )
        self._by_key[key] = None if entry is None else encode(entry) if packing() else entry
        for pin in pins:
            if pin in self._by_main_pin:
                raise DomainError(
                    f"main insured PIN {pin} appears in two households",
                    hint="a main insured belongs to one household of the registry",
                    code="domain.bad-registry",
                )
            self._by_main_pin[pin] = key

    def _made(self, key: str) -> RegistryEntry:
        data = self._by_key[key]
        if isinstance(data, RegistryEntry):  # kept as an object (D340)
            return data
        recent = self._recent
        entry = recent.pop(key, None)
        if entry is None:
            if data is None:
                assert self._load is not None
                entry = self._load(key)
                if not packing():
                    self._by_key[key] = entry
                    return entry
                self._by_key[key] = encode(entry)
            else:
                entry = decode(data)
            if len(recent) >= RECENT:
                del recent[next(iter(recent))]
        recent[key] = entry
        return entry

    def __iter__(self) -> Iterator[RegistryEntry]:
        return (self._made(key) for key in list(self._by_key))

    def __len__(self) -> int:
        return len(self._by_key)

    def entry(self, key: str) -> RegistryEntry:
        if key not in self._by_key:
            raise DomainError(
                f"no household {key!r} in the CNS registry",
                hint="use the key of a registered household",
                code="domain.unknown-person",
            )
        return self._made(key)

    def by_main_pin(self, pin: str) -> RegistryEntry | None:
        """The household of the main insured whose Luxembourg PIN is ``pin``."""
        key = self._by_main_pin.get(pin)
        return None if key is None else self._made(key)

    def by_member_pin(self, pin: str) -> tuple[RegistryEntry, str] | None:
        """The household and member ID of the member whose Luxembourg PIN is ``pin``."""
        hit = self._by_member_pin.get(pin)
        return None if hit is None else (self._made(hit[0]), hit[1])

    def require_main(self, pin: str) -> RegistryEntry:
        entry = self.by_main_pin(pin)
        if entry is None:
            raise DomainError(
                f"no main insured with PIN {pin} in the CNS registry",
                hint="give the 13-digit matricule of a registered main insured",
                code="domain.unknown-person",
            )
        return entry
