"""P-Modes: how two parties exchange messages (ebMS 3.0 core, appendix D), as frozen data.

A P-Mode file is TOML beside the directory (``pmodes.toml``; the shipped one is
``eessi/data/pmodes.toml``, format in ``docs/as4.md``). Each ``[[pmode]]`` is one ebMS P-Mode
for the One-Way/Push MEP, in the shape a Domibus "process" has: the parties that may initiate
and respond (IR IDs, or ``"*"`` for every institution of the directory) with their roles, the
agreement, one Service (a BUC) with the Actions (SED types) its leg carries, security, and
reception awareness (retries, duplicate detection). A ``[defaults]`` table gives values every
``[[pmode]]`` inherits unless it sets them itself.

Loading checks every key: an unknown key, a wrong type or a value outside what is allowed is a
:class:`~eessi.errors.ConfigError` that names the file, the P-Mode and the key, and says what
is allowed. Nothing here reads the network or the clock.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from eessi.as4.mapping import (
    AGREEMENT,
    DEFAULT_INITIATOR_ROLE,
    DEFAULT_RESPONDER_ROLE,
    PARTY_ID_TYPE,
    SERVICE_TYPE,
)
from eessi.directory import IR_ID_PATTERN, Directory
from eessi.errors import ConfigError

__all__ = [
    "FORMAT_VERSION",
    "MEP_ONE_WAY",
    "MEP_PUSH",
    "BusinessInfo",
    "PMode",
    "PModeSet",
    "Parties",
    "ReceptionAwareness",
    "Security",
    "default_pmodes_path",
    "load_pmodes",
    "parse_pmodes",
    "pmodes_path_beside",
]

#: The P-Mode file format this code reads (top-level ``format`` key).
FORMAT_VERSION: Final = 1
#: ``PMode.MEP`` and ``PMode.MEPbinding`` (the only pair AS4's eDelivery profile requires).
MEP_ONE_WAY: Final = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/oneWay"
MEP_PUSH: Final = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/push"
_MEPS = {"one-way": MEP_ONE_WAY}
_BINDINGS = {"push": MEP_PUSH}
#: Algorithms a P-Mode may name (the eDelivery AS4 1.15 common profile's choices).
SIGNATURE_ALGORITHMS: Final = {"rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}
DIGEST_ALGORITHMS: Final = {"sha256": "http://www.w3.org/2001/04/xmlenc#sha256"}
ENCRYPTION_ALGORITHMS: Final = {"aes128-gcm": "http://www.w3.org/2009/xmlenc11#aes128-gcm"}
KEY_TRANSPORT_ALGORITHMS: Final = {"rsa-oaep": "http://www.w3.org/2009/xmlenc11#rsa-oaep"}


@dataclass(frozen=True, slots=True)
class Parties:
    """``PMode.Initiator`` / ``PMode.Responder``: who may take each side, and its role."""

    #: IR IDs that may initiate, or ``("*",)``: every EESSI institution of the directory.
    initiators: tuple[str, ...]
    initiator_role: str
    responders: tuple[str, ...]
    responder_role: str
    #: ``eb:PartyId/@type`` of both sides.
    party_id_type: str = PARTY_ID_TYPE

    def may_initiate(self, ir_id: str) -> bool:
        return "*" in self.initiators or ir_id in self.initiators

    def may_respond(self, ir_id: str) -> bool:
        return "*" in self.responders or ir_id in self.responders


@dataclass(frozen=True, slots=True)
class BusinessInfo:
    """``PMode[1].BusinessInfo``: the Service and the Actions of the leg."""

    service: str
    service_type: str | None
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Security:
    """``PMode[1].Security``: WS-Security 1.1 settings, or none (``enabled = false``)."""

    #: False: no ``wsse:Security`` header at all (fast local simulation); receipts unsigned.
    enabled: bool
    #: ``PMode[1].Security.X509.Sign``: eb:Messaging, the Body and every attachment signed.
    sign: bool = True
    signature_algorithm: str = SIGNATURE_ALGORITHMS["rsa-sha256"]
    digest_algorithm: str = DIGEST_ALGORITHMS["sha256"]
    #: ``PMode[1].Security.X509.Encryption.Encrypt``: every attachment encrypted.
    encrypt: bool = True
    encryption_algorithm: str = ENCRYPTION_ALGORITHMS["aes128-gcm"]
    key_transport_algorithm: str = KEY_TRANSPORT_ALGORITHMS["rsa-oaep"]
    #: ``PMode[1].Security.SendReceipt`` and its non-repudiation form (signed, with digests).
    send_receipt: bool = True
    receipt_non_repudiation: bool = True

    @property
    def signs(self) -> bool:
        return self.enabled and self.sign

    @property
    def encrypts(self) -> bool:
        return self.enabled and self.encrypt


@dataclass(frozen=True, slots=True)
class ReceptionAwareness:
    """``PMode[1].ReceptionAwareness``: retries until a receipt, duplicate elimination."""

    enabled: bool = True
    #: Resends after the first try, when no receipt (or a retryable error) comes back.
    retries: int = 5
    #: Seconds before the first resend; each next one waits ``backoff`` times longer.
    retry_interval: float = 2.0
    backoff: float = 2.0
    #: ``PMode[1].ReceptionAwareness.DuplicateDetection``: deliver a MessageId at most once.
    duplicate_detection: bool = True
    #: How long (seconds) a MessageId is remembered for duplicate detection.
    duplicate_window: float = 86400.0

    def delays(self) -> tuple[float, ...]:
        """The waits before each resend, in seconds."""
        if not self.enabled:
            return ()
        return tuple(self.retry_interval * self.backoff**i for i in range(self.retries))


@dataclass(frozen=True, slots=True)
class PMode:
    """One P-Mode (``PMode.ID``): One-Way/Push, its parties, agreement, leg and its settings."""

    id: str
    mep: str
    binding: str
    agreement: str
    agreement_type: str | None
    parties: Parties
    business: BusinessInfo
    security: Security
    reception_awareness: ReceptionAwareness
    #: ``PMode[1].PayloadProfile.maxSize``: the largest SED (uncompressed), bytes.
    max_payload_bytes: int = 1 << 20
    #: ``PMode[1].Compress`` (AS4 compression): the SED travels gzip-compressed.
    compress: bool = True


@dataclass(frozen=True, slots=True)
class PModeSet:
    """The P-Modes of a network, looked up by ID or by Service and Action."""

    pmodes: tuple[PMode, ...]
    source: str = "<pmodes>"
    #: The test PKI's directory (``pki = "DIR"``, relative to the P-Mode file), if named.
    pki: Path | None = None
    _by_leg: dict[tuple[str, str], PMode] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        legs: dict[tuple[str, str], PMode] = {}
        for pm in self.pmodes:
            for action in pm.business.actions:
                legs.setdefault((pm.business.service, action), pm)
        object.__setattr__(self, "_by_leg", legs)

    def __iter__(self) -> Iterator[PMode]:
        return iter(self.pmodes)

    def __len__(self) -> int:
        return len(self.pmodes)

    def get(self, pmode_id: str) -> PMode:
        for pm in self.pmodes:
            if pm.id == pmode_id:
                return pm
        raise ConfigError(
            f"no P-Mode {pmode_id!r} in {self.source}",
            code="pmode.unknown",
            where=self.source,
            hint=f"known P-Modes: {', '.join(pm.id for pm in self.pmodes)}",
            details={"ebms_code": "EBMS:0010"},
        )

    def find(self, service: str, action: str) -> PMode:
        """The P-Mode whose leg carries ``service``/``action`` (ebMS P-Mode matching).

        Raises :class:`ConfigError` with ``details["ebms_code"] == "EBMS:0010"``
        (ProcessingModeMismatch) when none does.
        """
        pm = self._by_leg.get((service, action))
        if pm is None:
            raise ConfigError(
                f"no P-Mode carries Service {service!r} with Action {action!r}",
                code="pmode.no-match",
                where=self.source,
                hint="add the Action to the P-Mode of that Service, or check the sender's",
                details={"ebms_code": "EBMS:0010", "service": service, "action": action},
            )
        return pm

    def check_parties(self, directory: Directory) -> None:
        """Every party a P-Mode names exists in ``directory`` (start-up check)."""
        for pm in self.pmodes:
            for key, ids in (
                ("initiators", pm.parties.initiators),
                ("responders", pm.parties.responders),
            ):
                for ir_id in ids:
                    if ir_id != "*" and ir_id not in directory:
                        raise ConfigError(
                            f"P-Mode {pm.id!r} names {ir_id!r}, which is not in the directory",
                            code="pmode.unknown-party",
                            where=f"{self.source}: pmode {pm.id!r}, key {key!r}",
                            hint=f"use an IR ID of the directory or '*'; known: "
                            f"{', '.join(directory.ids)}",
                        )


def default_pmodes_path() -> Path:
    """The shipped P-Mode file, beside the shipped directory (``eessi/data/pmodes.toml``)."""
    return Path(__file__).resolve().parent.parent / "data" / "pmodes.toml"


def pmodes_path_beside(directory_path: str | Path) -> Path:
    """Where the P-Modes of the directory at ``directory_path`` live: ``pmodes.toml`` beside it."""
    return Path(directory_path).resolve().parent / "pmodes.toml"


def load_pmodes(path: str | Path) -> PModeSet:
    """Read and check the P-Mode file at ``path``; every problem is a :class:`ConfigError`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the P-Mode file: {exc.strerror or exc}",
            code="pmode.unreadable",
            where=str(p),
            hint="put a pmodes.toml beside the directory (format: docs/as4.md)",
        ) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            "the P-Mode file is not UTF-8 text", code="pmode.syntax", where=str(p)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the P-Mode file is not valid TOML: {exc}",
            code="pmode.syntax",
            where=str(p),
            hint="fix the TOML syntax at the line named",
        ) from None
    return parse_pmodes(doc, source=str(p))


# --- checking ---------------------------------------------------------------------------------

_TOP = {"format", "pki", "defaults", "pmode"}
_PMODE_KEYS: dict[str, str] = {
    "id": "a name, unique in the file",
    "mep": "'one-way'",
    "binding": "'push'",
    "agreement": "a URI (default: the simulator's agreement)",
    "agreement_type": "a string (optional)",
    "initiators": "a list of IR IDs, or ['*']",
    "responders": "a list of IR IDs, or ['*']",
    "initiator_role": "a role URI (default: ebMS initiator)",
    "responder_role": "a role URI (default: ebMS responder)",
    "party_id_type": "the PartyId type URI",
    "service": "the Service value (a BUC name)",
    "service_type": "the Service type (default: the simulator's BUC type)",
    "actions": "a non-empty list of Actions (SED types)",
    "max_payload_bytes": "a positive integer",
    "compress": "true or false",
    "security": "a table",
    "reception_awareness": "a table",
}
_SECURITY_KEYS: dict[str, str] = {
    "enabled": "true or false",
    "sign": "true or false",
    "encrypt": "true or false",
    "signature_algorithm": "'rsa-sha256'",
    "digest_algorithm": "'sha256'",
    "encryption_algorithm": "'aes128-gcm'",
    "key_transport_algorithm": "'rsa-oaep'",
    "send_receipt": "true or false",
    "receipt_non_repudiation": "true or false",
}
_RA_KEYS: dict[str, str] = {
    "enabled": "true or false",
    "retries": "an integer from 0 to 100",
    "retry_interval": "seconds, a number > 0",
    "backoff": "a number >= 1",
    "duplicate_detection": "true or false",
    "duplicate_window": "seconds, a number > 0",
}


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, message: str, allowed: str | None = None) -> ConfigError:
        return ConfigError(
            message,
            code="pmode.invalid",
            where=f"{self.source}: {where}",
            hint=f"allowed: {allowed}" if allowed else "see docs/as4.md for the format",
        )

    def keys(self, table: Mapping[str, Any], allowed: Mapping[str, str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(
                    f"{where}, key {key!r}",
                    f"unknown key {key!r}",
                    "keys " + ", ".join(sorted(allowed)),
                )

    def str_(self, table: Mapping[str, Any], key: str, where: str, default: str | None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(
                f"{where}, key {key!r}",
                f"{key!r} must be a non-empty string, not {value!r}",
                _PMODE_KEYS.get(key),
            )
        return value

    def bool_(self, table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{where}, key {key!r}", f"{key!r} must be true or false", "a bool")
        return value

    def number(
        self, table: Mapping[str, Any], key: str, where: str, default: float, *, low: float
    ) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise self.error(
                f"{where}, key {key!r}", f"{key!r} is {value!r}", _RA_KEYS.get(key, f">= {low}")
            )
        return float(value)

    def choice(
        self, table: Mapping[str, Any], key: str, where: str, choices: Mapping[str, str]
    ) -> str:
        name = next(iter(choices))
        value = table.get(key, name)
        if value not in choices:
            raise self.error(
                f"{where}, key {key!r}",
                f"{key!r} is {value!r}, which this simulator does not support",
                ", ".join(repr(c) for c in choices),
            )
        return choices[value]

    def ids(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, ["*"])
        if not isinstance(value, list) or not value:
            raise self.error(f"{where}, key {key!r}", f"{key!r} must be a non-empty list", None)
        for item in value:
            if item != "*" and not (isinstance(item, str) and IR_ID_PATTERN.match(item)):
                raise self.error(
                    f"{where}, key {key!r}",
                    f"{item!r} is not an IR ID",
                    "IR IDs such as 'LU:CNS00001', or '*' for every institution",
                )
        return tuple(value)


def parse_pmodes(doc: Mapping[str, Any], *, source: str = "<pmodes>") -> PModeSet:
    """Check a parsed P-Mode document and build its :class:`PModeSet`."""
    c = _Checker(source)
    c.keys(doc, dict.fromkeys(_TOP, ""), "top level")
    if doc.get("format") != FORMAT_VERSION:
        raise c.error(
            "key 'format'",
            f"format is {doc.get('format')!r}, this version reads {FORMAT_VERSION}",
            f"format = {FORMAT_VERSION}",
        )
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise c.error("key 'defaults'", "'defaults' must be a table", None)
    c.keys(defaults, {k: v for k, v in _PMODE_KEYS.items() if k != "id"}, "[defaults]")
    tables = doc.get("pmode")
    if not isinstance(tables, list) or not tables:
        raise c.error("top level", "no [[pmode]] table", "at least one [[pmode]]")
    pmodes: list[PMode] = []
    seen_ids: set[str] = set()
    seen_legs: dict[tuple[str, str], str] = {}
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise c.error(f"pmode[{i}]", "each [[pmode]] must be a table", None)
        where = f"pmode[{i}]"
        c.keys(table, _PMODE_KEYS, where)
        merged = _merge(defaults, table)
        pm = _pmode(c, merged, where)
        if pm.id in seen_ids:
            raise c.error(f"{where}, key 'id'", f"P-Mode ID {pm.id!r} is used twice", None)
        seen_ids.add(pm.id)
        for action in pm.business.actions:
            leg = (pm.business.service, action)
            if leg in seen_legs:
                raise c.error(
                    f"pmode {pm.id!r}, key 'actions'",
                    f"Service {leg[0]!r} with Action {action!r} is already in P-Mode "
                    f"{seen_legs[leg]!r}",
                    "each Service/Action pair in one P-Mode only",
                )
            seen_legs[leg] = pm.id
        pmodes.append(pm)
    pki = doc.get("pki")
    if pki is not None and (not isinstance(pki, str) or not pki.strip()):
        raise c.error(
            "key 'pki'", "'pki' must be a directory path", "a path written by `eessi pki init`"
        )
    pki_path = (
        None
        if pki is None
        else (Path(source).parent / pki if not Path(pki).is_absolute() else Path(pki))
    )
    return PModeSet(tuple(pmodes), source=source, pki=pki_path)


def _merge(defaults: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in table.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _pmode(c: _Checker, t: Mapping[str, Any], where: str) -> PMode:
    pm_id = c.str_(t, "id", where, None)
    where = f"pmode {pm_id!r}"
    actions = t.get("actions")
    if (
        not isinstance(actions, list)
        or not actions
        or not all(isinstance(a, str) and a.strip() for a in actions)
    ):
        raise c.error(f"{where}, key 'actions'", "'actions' must be a non-empty list of strings")
    if len(set(actions)) != len(actions):
        raise c.error(f"{where}, key 'actions'", "an Action is listed twice", None)
    sec_t = t.get("security", {})
    ra_t = t.get("reception_awareness", {})
    for key, sub in (("security", sec_t), ("reception_awareness", ra_t)):
        if not isinstance(sub, dict):
            raise c.error(f"{where}, key {key!r}", f"{key!r} must be a table", None)
    c.keys(sec_t, _SECURITY_KEYS, f"{where}, [security]")
    c.keys(ra_t, _RA_KEYS, f"{where}, [reception_awareness]")
    sw = f"{where}, [security]"
    enabled = c.bool_(sec_t, "enabled", sw, True)
    security = Security(
        enabled=enabled,
        sign=c.bool_(sec_t, "sign", sw, True),
        signature_algorithm=c.choice(sec_t, "signature_algorithm", sw, SIGNATURE_ALGORITHMS),
        digest_algorithm=c.choice(sec_t, "digest_algorithm", sw, DIGEST_ALGORITHMS),
        encrypt=c.bool_(sec_t, "encrypt", sw, True),
        encryption_algorithm=c.choice(sec_t, "encryption_algorithm", sw, ENCRYPTION_ALGORITHMS),
        key_transport_algorithm=c.choice(
            sec_t, "key_transport_algorithm", sw, KEY_TRANSPORT_ALGORITHMS
        ),
        send_receipt=c.bool_(sec_t, "send_receipt", sw, True),
        receipt_non_repudiation=c.bool_(sec_t, "receipt_non_repudiation", sw, True),
    )
    if security.enabled and security.encrypt and not security.sign:
        raise c.error(
            f"{sw}, key 'sign'",
            "encryption without signing is not allowed (the eDelivery profile signs first)",
            "sign = true when encrypt = true",
        )
    rw = f"{where}, [reception_awareness]"
    retries = ra_t.get("retries", 5)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        raise c.error(f"{rw}, key 'retries'", f"'retries' is {retries!r}", _RA_KEYS["retries"])
    interval = c.number(ra_t, "retry_interval", rw, 2.0, low=0.001)
    backoff = c.number(ra_t, "backoff", rw, 2.0, low=1.0)
    window = c.number(ra_t, "duplicate_window", rw, 86400.0, low=0.001)
    ra = ReceptionAwareness(
        enabled=c.bool_(ra_t, "enabled", rw, True),
        retries=retries,
        retry_interval=interval,
        backoff=backoff,
        duplicate_detection=c.bool_(ra_t, "duplicate_detection", rw, True),
        duplicate_window=window,
    )
    max_bytes = t.get("max_payload_bytes", 1 << 20)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise c.error(
            f"{where}, key 'max_payload_bytes'", f"max_payload_bytes is {max_bytes!r}", "> 0"
        )
    return PMode(
        id=pm_id,
        mep=c.choice(t, "mep", where, _MEPS),
        binding=c.choice(t, "binding", where, _BINDINGS),
        agreement=c.str_(t, "agreement", where, AGREEMENT),
        agreement_type=(
            c.str_(t, "agreement_type", where, None) if "agreement_type" in t else None
        ),
        parties=Parties(
            initiators=c.ids(t, "initiators", where),
            initiator_role=c.str_(t, "initiator_role", where, DEFAULT_INITIATOR_ROLE),
            responders=c.ids(t, "responders", where),
            responder_role=c.str_(t, "responder_role", where, DEFAULT_RESPONDER_ROLE),
            party_id_type=c.str_(t, "party_id_type", where, PARTY_ID_TYPE),
        ),
        business=BusinessInfo(
            service=c.str_(t, "service", where, None),
            service_type=c.str_(t, "service_type", where, SERVICE_TYPE),
            actions=tuple(actions),
        ),
        security=security,
        reception_awareness=ra,
        max_payload_bytes=max_bytes,
        compress=c.bool_(t, "compress", where, True),
    )
