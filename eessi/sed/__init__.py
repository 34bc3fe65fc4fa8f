"""Layer 1: SED documents (catalogue, models, XML, validation). No asyncio here."""

from __future__ import annotations

from eessi.sed.catalogue import (
    BUCS,
    CURRENT_VERSION,
    SEDS,
    SUPPORTED_VERSIONS,
    Buc,
    Role,
    SedType,
    namespace,
    parse_namespace,
)

__all__ = [
    "BUCS",
    "CURRENT_VERSION",
    "SEDS",
    "SUPPORTED_VERSIONS",
    "Buc",
    "Role",
    "SedType",
    "namespace",
    "parse_namespace",
]
