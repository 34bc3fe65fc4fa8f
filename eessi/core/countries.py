"""Country lists the co-insurance rules depend on, as data (ISO 3166 alpha-2, EESSI spelling).

EESSI writes Greece ``EL`` and the United Kingdom ``UK``; so do we. The lists are plain
frozensets so a :class:`~eessi.core.rules.RuleParameters` can swap them (a scenario may want to
test what happens when a country joins or leaves an agreement).

- :data:`EU` the 27 member states (Luxembourg included: a former insurance in Luxembourg is
  handled by R4, before R5 is looked at).
- :data:`EEA_EFTA` Iceland, Liechtenstein, Norway; :data:`SWITZERLAND`; :data:`UNITED_KINGDOM`.
- :data:`R5_COUNTRIES` the list of R5: EU, Norway, Iceland, Liechtenstein, Switzerland, UK.
- :data:`R6_BILATERAL` the bilateral agreements of R6: Bosnia-Herzegovina, Cape Verde, Morocco,
  Montenegro, Tunisia, Turkey, North Macedonia, Serbia.
- :data:`R17_R18_COUNTRIES` where "abroad" may be for R17/R18: EU, EEA, Switzerland and the
  bilateral countries. The source does not name the United Kingdom there, so neither do we.
"""

from __future__ import annotations

import re

__all__ = [
    "EEA_EFTA",
    "EU",
    "LUXEMBOURG",
    "R5_COUNTRIES",
    "R6_BILATERAL",
    "R17_R18_COUNTRIES",
    "SWITZERLAND",
    "UNITED_KINGDOM",
    "is_country_code",
]

LUXEMBOURG = "LU"

EU: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
EEA_EFTA: frozenset[str] = frozenset({"IS", "LI", "NO"})
SWITZERLAND: frozenset[str] = frozenset({"CH"})
UNITED_KINGDOM: frozenset[str] = frozenset({"UK"})

R5_COUNTRIES: frozenset[str] = EU | EEA_EFTA | SWITZERLAND | UNITED_KINGDOM
R6_BILATERAL: frozenset[str] = frozenset({"BA", "CV", "MA", "ME", "TN", "TR", "MK", "RS"})
R17_R18_COUNTRIES: frozenset[str] = EU | EEA_EFTA | SWITZERLAND | R6_BILATERAL

_CODE = re.compile(r"^[A-Z]{2}$")


def is_country_code(text: str) -> bool:
    """True for two upper-case letters (``LU``, ``EL``, ``UK``); the list itself is not checked."""
    return bool(_CODE.match(text))
