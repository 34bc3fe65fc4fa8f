"""The CNS's view of its insured: households plus what a SED needs and a household lacks.

A :class:`~eessi.core.household.Household` holds what the rules need. To write a SED about its
people the CNS also needs their sex, addresses and, for members already known, their Luxembourg
PIN; a :class:`RegistryEntry` adds those. The :class:`CnsRegistry` finds an entry by any main
insured's PIN (how an S071 names the family) or by a member's PIN.

The RNPP lookup of R14/R15 is the member's ``rnpp_registered`` flag (a *(sim)* register).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from eessi.core.household import Household
from eessi.errors import DomainError
from eessi.sed.model import Address, EuAddress, Sex

__all__ = ["CnsRegistry", "RegistryEntry"]


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
    """The CNS's households, found by main insured PIN, member PIN or key. Immutable."""

    __slots__ = ("_by_key", "_by_main_pin", "_by_member_pin")

    def __init__(self, entries: Iterable[RegistryEntry] = ()) -> None:
        self._by_key: dict[str, RegistryEntry] = {}
        self._by_main_pin: dict[str, RegistryEntry] = {}
        self._by_member_pin: dict[str, tuple[RegistryEntry, str]] = {}
        for entry in entries:
            if entry.key in self._by_key:
                raise DomainError(
                    f"two households have the key {entry.key!r}",
                    hint="give every household of the registry its own id",
                    code="domain.bad-registry",
                )
            self._by_key[entry.key] = entry
            for main in entry.household.main_insured:
                if main.pin in self._by_main_pin:
                    raise DomainError(
                        f"main insured PIN {main.pin} appears in two households",
                        hint="a main insured belongs to one household of the registry",
                        code="domain.bad-registry",
                    )
                self._by_main_pin[main.pin] = entry
            for member_id, pin in entry.member_pins.items():
                entry.household.member(member_id)  # DomainError for an unknown member
                self._by_member_pin[pin] = (entry, member_id)

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def entry(self, key: str) -> RegistryEntry:
        try:
            return self._by_key[key]
        except KeyError:
            raise DomainError(
                f"no household {key!r} in the CNS registry",
                hint="use the key of a registered household",
                code="domain.unknown-person",
            ) from None

    def by_main_pin(self, pin: str) -> RegistryEntry | None:
        """The household of the main insured whose Luxembourg PIN is ``pin``."""
        return self._by_main_pin.get(pin)

    def by_member_pin(self, pin: str) -> tuple[RegistryEntry, str] | None:
        """The household and member ID of the member whose Luxembourg PIN is ``pin``."""
        return self._by_member_pin.get(pin)

    def require_main(self, pin: str) -> RegistryEntry:
        entry = self.by_main_pin(pin)
        if entry is None:
            raise DomainError(
                f"no main insured with PIN {pin} in the CNS registry",
                hint="give the 13-digit matricule of a registered main insured",
                code="domain.unknown-person",
            )
        return entry
