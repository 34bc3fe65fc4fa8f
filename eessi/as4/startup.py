"""P-Modes and keys of a network, read (and the test PKI made) when its nodes start.

:func:`load_as4` is what ``eessi up`` and ``eessi serve`` call before any node starts: the
P-Modes beside the directory file (``pmodes.toml``; the shipped ones when there is none),
checked against the directory; then, if any P-Mode is secured, the network's test PKI,
**created at the first start** when its directory holds none (``eessi pki init`` by hand is
not needed; D93). Several processes of one network (``eessi serve`` each) starting at once
share one PKI: its creation holds an exclusive lock (``<pki>.lock``), and the others read
what the first wrote.

Where the PKI is, first match: ``--pki DIR``; the P-Mode file's ``pki = "DIR"``; the
caller's default (``eessi up``: ``<db-dir>/pki``, kept with the journals; ``eessi serve``:
``pki/`` beside the directory file, or ``eessi-pki/`` in the current directory for the shipped
directory). ``--no-security`` (:func:`without_security`) turns every P-Mode's security off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from eessi.as4.pki import INDEX, Pki, create_pki, directory_institutions, load_pki
from eessi.as4.pmode import PModeSet, default_pmodes_path, load_pmodes, pmodes_path_beside
from eessi.as4.transport import As4Keys
from eessi.directory import Directory
from eessi.errors import ConfigError

__all__ = ["As4Network", "ensure_pki", "load_as4", "pmodes_for", "without_security"]


@dataclass(frozen=True, slots=True)
class As4Network:
    """What every node of a network needs for AS4: the P-Modes and, when secured, the PKI."""

    pmodes: PModeSet
    pki: Pki | None
    #: Where the P-Modes were read from (for the start-up line).
    pmodes_file: str

    @property
    def secured(self) -> bool:
        return self.pki is not None

    def keys(self, ir_id: str) -> As4Keys:
        """``ir_id``'s own key, the CA and the others' certificates (nothing without security)."""
        if self.pki is None:
            return As4Keys()
        if ir_id not in self.pki.certificates:  # outside EESSI (eessi = false): no AS4 of its own
            return As4Keys(None, self.pki.trust, dict(self.pki.certificates))
        return As4Keys.from_pki(self.pki, ir_id)


def pmodes_for(directory: Directory) -> PModeSet:
    """The P-Modes beside the directory's file, else the shipped ones (which name every
    institution with ``"*"``, so they fit any directory)."""
    beside = pmodes_path_beside(directory.source) if directory.source else None
    path = beside if beside is not None and beside.is_file() else default_pmodes_path()
    pmodes = load_pmodes(path)
    pmodes.check_parties(directory)
    return pmodes


def without_security(pmodes: PModeSet) -> PModeSet:
    """``pmodes`` with ``[security] enabled = false`` everywhere (``--no-security``)."""
    return PModeSet(
        tuple(
            dataclasses.replace(pm, security=dataclasses.replace(pm.security, enabled=False))
            for pm in pmodes
        ),
        source=pmodes.source,
        pki=pmodes.pki,
    )


def ensure_pki(root: Path, directory: Directory, *, now: dt.datetime | None = None) -> Pki:
    """The PKI in ``root``, created first (under a lock) if ``root`` holds none; a
    :class:`ConfigError` if it lacks a certificate for an EESSI institution of the directory."""
    root.parent.mkdir(parents=True, exist_ok=True)
    lock = root.parent / f".{root.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not (root / INDEX).exists():
            create_pki(root, directory_institutions(directory), now=now or dt.datetime.now(dt.UTC))
    finally:
        os.close(fd)
    pki = load_pki(root)
    missing = [e.id for e in directory_institutions(directory) if e.id not in pki.certificates]
    if missing:
        raise ConfigError(
            f"the PKI in {root} has no certificate for {', '.join(missing)}",
            code="pki.unknown",
            where=str(root / INDEX),
            hint=f"the directory changed since the PKI was made: run `eessi pki init {root}"
            " --directory FILE --force` (every node of the network must then use the new one),"
            " or point --pki at another directory",
        )
    return pki


def load_as4(
    directory: Directory,
    *,
    pki_dir: Path | None,
    default_pki_dir: Path,
    security: bool = True,
) -> As4Network:
    """The network's P-Modes (checked) and, when any is secured, its PKI (see the module
    docstring for where; created there if missing)."""
    pmodes = pmodes_for(directory)
    if not security:
        pmodes = without_security(pmodes)
    if not any(pm.security.enabled for pm in pmodes):
        return As4Network(pmodes, None, pmodes.source)
    root = pki_dir or pmodes.pki or default_pki_dir
    return As4Network(pmodes, ensure_pki(root, directory), pmodes.source)
