"""The directory: the simulation's Institution Repository (who exists, where, what they support).

In the real EESSI, the Institution Repository lists every institution with its ID, country,
names, the BUCs and roles it supports, its Access Point and certificates. Ours is a TOML file
(format: ``docs/directory-format.md``) loaded into frozen :class:`InstitutionEntry` values. A node
uses it to find a receiver's endpoint, to check that the receiver supports a BUC and SED version
before sending, and to find the credential a peer signs its messages with (the stand-in for the
certificates: a shared HMAC secret, **simulation only**).

Loading validates everything a typo could break, and every error names the file, the
institution and the key, and says what to do. The default directory ships inside the package
(``eessi/data/directory.toml``, found by :func:`default_directory_path` after any install);
``mock_institutions/directory.toml`` in a checkout is a link to that same file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

from eessi.core.countries import R5_COUNTRIES
from eessi.errors import ConfigError
from eessi.sed.catalogue import BUCS, SUPPORTED_VERSIONS

__all__ = [
    "EESSI_COUNTRIES",
    "FORMAT_VERSION",
    "IR_ID_PATTERN",
    "KINDS",
    "ROLES",
    "Directory",
    "InstitutionEntry",
    "Kind",
    "default_directory_path",
    "load_default_directory",
    "load_directory",
    "parse_directory",
]

#: The directory file format this code reads (top-level ``format`` key).
FORMAT_VERSION = 1
#: An Institution Repository ID: country, colon, 4 to 10 letters or digits (``LU:CNS00001``).
IR_ID_PATTERN = re.compile(r"^([A-Z]{2}):[A-Za-z0-9]{4,10}$")
#: Countries that take part in EESSI: the EU (Greece as ``EL``), Iceland, Liechtenstein,
#: Norway, Switzerland, the United Kingdom (``UK``), and ``EU`` for EU-level bodies.
EESSI_COUNTRIES: frozenset[str] = R5_COUNTRIES | {"EU"}

Kind = Literal["cns", "mock", "external"]
#: ``cns``: the simulated CNS; ``mock``: a scripted foreign fund of ``mock_institutions/``;
#: ``external``: a system under test reached over the network (not run by eessi-sim).
KINDS: tuple[Kind, ...] = ("cns", "mock", "external")
#: What an institution can be in a case (the IR lists roles per institution):
#: ``competent`` (where the person is insured), ``residence`` (of the place of residence),
#: ``liaison`` (a liaison body that routes for others).
ROLES: tuple[str, ...] = ("competent", "residence", "liaison")

_LANGUAGE = re.compile(r"^[a-z]{2}$")
_MIN_CREDENTIAL = 16
_KEYS = {
    "id": "required",
    "country": "required",
    "name": "required",
    "kind": "optional, default external",
    "roles": "required",
    "endpoint": "required",
    "admin": "optional",
    "eessi": "optional, default true",
    "bucs": "required when eessi = true",
    "versions": "required when eessi = true",
    "languages": "optional",
    "credential": "required, unless credential_env is given",
    "credential_env": "optional: read the credential from this environment variable",
}


@dataclass(frozen=True, slots=True)
class InstitutionEntry:
    """One institution of the directory. Built by :func:`load_directory`, which checks it."""

    #: IR ID, ``"LU:CNS00001"``.
    id: str
    #: ISO country code as EESSI writes it (``EL``, ``UK``); the ID's prefix.
    country: str
    name: str
    #: Roles it can take in a case (see :data:`ROLES`).
    roles: tuple[str, ...]
    #: Where its Access Point receives messages: ``http://127.0.0.1:8701/as4``.
    endpoint: str
    #: URL of its admin API, if it has one.
    admin: str | None
    #: BUCs it supports (empty when ``eessi`` is false).
    bucs: tuple[str, ...]
    #: SED versions it accepts, oldest first (empty when ``eessi`` is false).
    versions: tuple[str, ...]
    #: The shared secret its messages are signed with (HMAC-SHA256). Simulation only.
    credential: str = field(repr=False)
    kind: Kind
    #: ISO 639-1 codes of the languages it works in.
    languages: tuple[str, ...] = ()
    #: False for a fund reached outside EESSI (a bilateral-agreement country, rule R6): no SED
    #: is ever sent to it; its forms travel as documents submitted to a case.
    eessi: bool = True

    def supports(self, buc: str, version: str | None = None) -> bool:
        """Whether a SED of ``buc`` (in ``version``, if given) may be sent to this institution."""
        if not self.eessi or buc not in self.bucs:
            return False
        return version is None or version in self.versions

    def to_dict(self, *, include_credential: bool = False) -> dict[str, Any]:
        """JSON form (for ``--json`` and the admin API); the credential only if asked for."""
        out: dict[str, Any] = {
            "id": self.id,
            "country": self.country,
            "name": self.name,
            "kind": self.kind,
            "roles": list(self.roles),
            "endpoint": self.endpoint,
            "admin": self.admin,
            "eessi": self.eessi,
            "bucs": list(self.bucs),
            "versions": list(self.versions),
            "languages": list(self.languages),
        }
        if include_credential:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True, slots=True)
class Directory:
    """The institutions of one directory file, in file order, with lookups by IR ID."""

    entries: tuple[InstitutionEntry, ...]
    #: The file it was loaded from (for messages), if any.
    source: str | None = None
    _by_id: Mapping[str, InstitutionEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {e.id: e for e in self.entries})

    def __iter__(self) -> Iterator[InstitutionEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, ir_id: object) -> bool:
        return ir_id in self._by_id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.entries)

    def find(self, ir_id: str) -> InstitutionEntry | None:
        """The entry for ``ir_id``, or ``None``."""
        return self._by_id.get(ir_id)

    def get(self, ir_id: str) -> InstitutionEntry:
        """The entry for ``ir_id``; a :class:`ConfigError` (code
        ``directory.unknown-institution``) naming the directory if there is none."""
        entry = self._by_id.get(ir_id)
        if entry is None:
            raise ConfigError(
                f"institution {ir_id!r} is not in the directory",
                code="directory.unknown-institution",
                where=self.source,
                hint=f"known institutions: {', '.join(self.ids) or '(none)'}; add it to the"
                " directory or check the ID",
                details={"id": ir_id},
            )
        return entry

    def credential(self, ir_id: str) -> str | None:
        """The credential of ``ir_id`` or ``None``: a ready ``CredentialLookup`` for transport."""
        entry = self._by_id.get(ir_id)
        return None if entry is None else entry.credential

    def of_kind(self, kind: Kind) -> tuple[InstitutionEntry, ...]:
        """The entries of one kind, in file order."""
        return tuple(e for e in self.entries if e.kind == kind)


def default_directory_path() -> Path:
    """The directory that ships with eessi-sim: the CNS and the mock funds on loopback.

    The one place that resolves it: package data, so a regular (non-editable) install finds it
    too. In a checkout, ``mock_institutions/directory.toml`` links to this file.
    """
    return Path(__file__).resolve().parent / "data" / "directory.toml"


def load_default_directory() -> Directory:
    return load_directory(default_directory_path())


def load_directory(path: str | Path) -> Directory:
    """Read and check the TOML directory at ``path``; every problem is a :class:`ConfigError`
    that names the file, the institution and the key."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"no directory file at {str(p)!r}",
            code="directory.missing",
            where=str(p),
            hint="check the path given to --directory, or leave it out to use the default",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the directory file: {exc.strerror or exc}",
            code="directory.unreadable",
            where=str(p),
            hint="check the path and its permissions",
        ) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            "the directory file is not UTF-8 text",
            code="directory.syntax",
            where=str(p),
            hint="save it as UTF-8 (TOML requires it)",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the directory file is not valid TOML: {exc}",
            code="directory.syntax",
            where=str(p),
            hint="fix the TOML at the line and column named; see docs/directory-format.md",
        ) from None
    return parse_directory(doc, source=str(p))


def parse_directory(doc: Mapping[str, Any], *, source: str = "<directory>") -> Directory:
    """Check an already parsed directory document (a TOML table) and build the directory."""
    unknown = sorted(set(doc) - {"format", "institution"})
    if unknown:
        raise _error(
            source,
            None,
            unknown[0],
            f"unknown top-level key {unknown[0]!r}",
            "the top level has only `format` and `[[institution]]` tables",
        )
    fmt = doc.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise _error(
            source,
            None,
            "format",
            f"directory format {fmt!r} is not supported",
            f"this eessi-sim reads format = {FORMAT_VERSION}",
        )
    tables = doc.get("institution")
    if not isinstance(tables, list) or not tables:
        raise _error(
            source,
            None,
            "institution",
            "the directory lists no institution",
            "add at least one [[institution]] table (see docs/directory-format.md)",
        )
    entries: list[InstitutionEntry] = []
    seen_ids: dict[str, int] = {}
    seen_endpoints: dict[str, str] = {}
    seen_credentials: dict[str, str] = {}
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise _error(
                source,
                index,
                None,
                "an institution must be a table",
                "write each institution as an [[institution]] table",
            )
        entry = _entry(source, index, table)
        if entry.id in seen_ids:
            raise _error(
                source,
                index,
                "id",
                f"the ID {entry.id} is listed twice (also institution #{seen_ids[entry.id]})",
                "IR IDs are unique: remove or rename one of them",
            )
        seen_ids[entry.id] = index
        if entry.endpoint in seen_endpoints:
            raise _error(
                source,
                index,
                "endpoint",
                f"endpoint {entry.endpoint} is also the endpoint of"
                f" {seen_endpoints[entry.endpoint]}",
                "give every institution its own endpoint (a different port on loopback)",
                entry.id,
            )
        seen_endpoints[entry.endpoint] = entry.id
        if entry.credential in seen_credentials:
            raise _error(
                source,
                index,
                "credential",
                f"the credential is also the credential of {seen_credentials[entry.credential]}",
                "give every institution its own secret, or one could sign as the other",
                entry.id,
            )
        seen_credentials[entry.credential] = entry.id
        entries.append(entry)
    return Directory(tuple(entries), source=source)


# -- one institution ----------------------------------------------------------------------
def _entry(source: str, index: int, table: Mapping[str, Any]) -> InstitutionEntry:
    ir_id_hint: str | None = table.get("id") if isinstance(table.get("id"), str) else None

    def fail(key: str | None, message: str, hint: str) -> ConfigError:
        return _error(source, index, key, message, hint, ir_id_hint)

    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise fail(
            unknown[0],
            f"unknown key {unknown[0]!r}",
            f"the keys of an institution are: {', '.join(_KEYS)}",
        )
    for key, need in _KEYS.items():
        if need == "required" and key not in table:
            raise fail(key, f"the key {key!r} is missing", "see docs/directory-format.md")

    ir_id = _string(table, "id", fail)
    m = IR_ID_PATTERN.match(ir_id)
    if m is None:
        raise fail(
            "id",
            f"{ir_id!r} is not an IR ID",
            "write the country code, a colon and 4 to 10 letters or digits, e.g. LU:CNS00001",
        )
    country = _string(table, "country", fail)
    if country != m.group(1):
        raise fail(
            "country",
            f"country {country!r} does not match the ID {ir_id}",
            f"the ID starts with the country: set country = {m.group(1)!r} or fix the ID",
        )
    name = _string(table, "name", fail)
    kind = table.get("kind", "external")
    if kind not in KINDS:
        raise fail("kind", f"unknown kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    roles = _strings(table, "roles", fail)
    if not roles:
        raise fail("roles", "an institution needs at least one role", f"use: {', '.join(ROLES)}")
    for role in roles:
        if role not in ROLES:
            raise fail("roles", f"unknown role {role!r}", f"use: {', '.join(ROLES)}")
    endpoint = _url(table, "endpoint", fail)
    admin = _url(table, "admin", fail) if "admin" in table else None
    eessi = table.get("eessi", True)
    if not isinstance(eessi, bool):
        raise fail(
            "eessi",
            "eessi must be true or false",
            "write eessi = false (no quotes) for a fund outside EESSI, or leave it out",
        )
    bucs = _strings(table, "bucs", fail) if "bucs" in table else ()
    versions = _strings(table, "versions", fail) if "versions" in table else ()
    if eessi:
        if country not in EESSI_COUNTRIES:
            raise fail(
                "eessi",
                f"{country} does not take part in EESSI",
                "set eessi = false and leave out bucs and versions: documents of a bilateral"
                " agreement (rule R6) travel outside EESSI",
            )
        if not bucs:
            raise fail("bucs", "an EESSI institution needs at least one BUC", _bucs_hint())
        if not versions:
            raise fail(
                "versions",
                "an EESSI institution needs at least one SED version",
                f"list the versions it accepts, some of: {', '.join(SUPPORTED_VERSIONS)}",
            )
    elif bucs or versions:
        raise fail(
            "bucs" if bucs else "versions",
            "an institution with eessi = false cannot list BUCs or SED versions",
            "no SED is sent outside EESSI: remove bucs and versions, or set eessi = true",
        )
    for b in bucs:
        if b not in BUCS:
            raise fail("bucs", f"unknown BUC {b!r}", _bucs_hint())
    for v in versions:
        if v not in SUPPORTED_VERSIONS:
            raise fail(
                "versions",
                f"SED version {v!r} is not supported by eessi-sim",
                f"use some of: {', '.join(SUPPORTED_VERSIONS)}",
            )
    _no_repeats(bucs, "bucs", fail)
    _no_repeats(versions, "versions", fail)
    languages = _strings(table, "languages", fail) if "languages" in table else ()
    for lang in languages:
        if not _LANGUAGE.match(lang):
            raise fail(
                "languages", f"{lang!r} is not a language code", "use ISO 639-1 codes: fr, de, lb"
            )
    credential = _credential(table, fail)
    if len(credential) < _MIN_CREDENTIAL:
        raise fail(
            "credential",
            f"the credential is shorter than {_MIN_CREDENTIAL} characters",
            "use a long random string (e.g. `python -c 'import secrets;"
            " print(secrets.token_hex(16))'`)",
        )
    return InstitutionEntry(
        id=ir_id,
        country=country,
        name=name,
        roles=roles,
        endpoint=endpoint,
        admin=admin,
        bucs=tuple(sorted(bucs)),
        versions=tuple(v for v in SUPPORTED_VERSIONS if v in versions),
        credential=credential,
        kind=cast(Kind, kind),
        languages=languages,
        eessi=eessi,
    )


class _Fail(Protocol):
    def __call__(self, key: str | None, message: str, hint: str) -> ConfigError: ...


def _credential(table: Mapping[str, Any], fail: _Fail) -> str:
    """The inline ``credential``, or the value of the variable named by ``credential_env`` (so
    a directory facing a real system under test can be shared without its secrets)."""
    if ("credential" in table) == ("credential_env" in table):
        raise fail(
            "credential",
            "give exactly one of credential and credential_env",
            'write credential = "..." (simulation) or credential_env = "VARIABLE"',
        )
    if "credential" in table:
        return _string(table, "credential", fail)
    variable = _string(table, "credential_env", fail)
    value = os.environ.get(variable)
    if not value:
        raise fail(
            "credential_env",
            f"the environment variable {variable} is not set",
            f"export {variable}=<the institution's secret> before starting eessi",
        )
    return value


def _string(table: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(key, f"{key} must be a non-empty string", f'write {key} = "..."')
    return value


def _strings(table: Mapping[str, Any], key: str, fail: _Fail) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(key, f"{key} must be a list of strings", f'write {key} = ["...", "..."]')
    return tuple(value)


def _no_repeats(values: Sequence[str], key: str, fail: _Fail) -> None:
    for v in values:
        if values.count(v) > 1:
            raise fail(key, f"{v!r} is listed twice", "list each value once")


def _url(table: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = _string(table, key, fail)
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[::1/as4": an unclosed IPv6 bracket
        raise fail(
            key, f"{value!r} is not a URL", "write it like http://127.0.0.1:8701/as4"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(
            key,
            f"{value!r} is not an http(s) URL",
            "write it like http://127.0.0.1:8701/as4",
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise fail(key, f"{value!r} has an invalid port", "use a port from 1 to 65535") from None
    return value


def _bucs_hint() -> str:
    return f"known BUCs: {', '.join(sorted(BUCS))}"


def _error(
    source: str,
    index: int | None,
    key: str | None,
    message: str,
    hint: str,
    ir_id: str | None = None,
) -> ConfigError:
    where = source
    if index is not None:
        where += f": institution #{index}"
        if ir_id:
            where += f" ({ir_id})"
    if key is not None:
        where += f", key {key!r}"
    return ConfigError(
        message,
        code="directory.invalid",
        where=where,
        hint=hint,
        details={"file": source, "institution": index, "id": ir_id, "key": key},
    )
