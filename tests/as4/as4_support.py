"""Shared builders for the AS4 tests (a SED user message as the node would send it; the CNS
and the Portuguese fund as a network speaking secured AS4 on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eessi.as4.ebms_build import sed_user_message
from eessi.as4.exchange import Incoming, Outgoing, build_sed_message, receive_user_message
from eessi.as4.mapping import Addressing
from eessi.as4.mime import Packaged
from eessi.as4.model import Attachment, Party, Property, UserMessage
from eessi.as4.node_transport import as4_transport
from eessi.as4.pki import Pki, create_pki, directory_institutions, load_pki
from eessi.as4.pmode import PModeSet, default_pmodes_path, load_pmodes
from eessi.as4.security import Credentials
from eessi.as4.startup import As4Network, load_as4
from eessi.directory import Directory, load_default_directory
from eessi.node.institution import NodeOptions
from eessi.node.network import Network, loopback_directory
from eessi.sed.examples import example_xml

WHEN = datetime(2026, 4, 15, 9, 0, 0, 123000, tzinfo=UTC)
#: The receiver's clock in the security tests: a second after the messages were stamped.
NOW = WHEN + timedelta(seconds=1)
CNS = "LU:CNS00001"
CPAM = "FR:CPAM5701"
PT = "PT:ISS00001"


def pmodes() -> PModeSet:
    return load_pmodes(default_pmodes_path())


def make_pki(
    root: Path, ids: Collection[str] | None = None, *, now: datetime = WHEN, days: int = 30
) -> Pki:
    """A test PKI in ``root`` for the default directory's institutions (those of ``ids`` only,
    when given), valid ``days`` from ``now``."""
    institutions = [
        e for e in directory_institutions(load_default_directory()) if ids is None or e.id in ids
    ]
    create_pki(root, institutions, now=now, days=days)
    return load_pki(root)


def signed_s072(
    pki: Pki,
    *,
    to: str = CPAM,
    credentials: Credentials | None = None,
    sed: bytes | None = None,
    seed: int = 3,
    timestamp: datetime = WHEN,
    pm: PModeSet | None = None,
) -> Outgoing:
    """The CNS's S072 (example ``seed``, or ``sed``) to ``to`` in case FR-1A2B3C, signed with
    ``credentials`` (the CNS's own by default) and encrypted for ``to``, as the node sends it."""
    return build_sed_message(
        Addressing(CNS, to, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4"),
        (pm or pmodes()).find("S_BUC_01", "S072"),
        sed if sed is not None else example_xml("S072", seed=seed),
        message_id="m-1@eessi-sim",
        timestamp=timestamp,
        content_id="sed-1@eessi-sim",
        credentials=credentials if credentials is not None else pki.credentials(CNS),
        recipient=pki.certificate(to),
    )


def s072_message(seed: int = 1) -> tuple[UserMessage, Attachment, bytes]:
    """An S072 from the CNS to the CPAM in case FR-1A2B3C, its attachment and the SED."""
    sed = example_xml("S072", seed=seed)
    addressing = Addressing(CNS, CPAM, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4")
    pm = pmodes().find("S_BUC_01", "S072")
    um, attachment = sed_user_message(
        addressing,
        pm,
        sed,
        message_id=f"m-{seed}@eessi-sim",
        timestamp=WHEN,
        content_id=f"sed-{seed}@eessi-sim",
        ref_to_message_id="m-0@eessi-sim",
    )
    return um, attachment, sed


def header_variants() -> list[UserMessage]:
    """:func:`s072_message`'s header and five variants of its optional parts (RefToMessageId,
    AgreementRef's type and pmode, the Service type, a PartyId type, the message properties)."""
    um, _, _ = s072_message()
    return [
        um,
        replace(um, ref_to_message_id=None),
        replace(um, agreement_type="urn:fdc:eessi-sim:agreement-type", pmode="eessi-S_BUC_01"),
        replace(um, agreement_type="t", pmode=None, service_type=None),
        replace(um, from_party=Party(CNS, None, "initiator"), properties=()),
        replace(um, properties=(Property("originalSender", CNS, "ir-id"),)),
    ]


def loopback_as4(tmp_path: Path) -> tuple[Directory, As4Network]:
    """The shipped directory, the CNS and the Portuguese fund on free loopback ports, and its
    P-Modes (secured) with a PKI made in ``tmp_path``."""
    directory = loopback_directory(load_default_directory(), [CNS, PT])
    return directory, load_as4(directory, pki_dir=None, default_pki_dir=tmp_path / "pki")


@asynccontextmanager
async def as4_network(
    tmp_path: Path, as4: tuple[Directory, As4Network], *, seed: int
) -> AsyncIterator[Network]:
    """The CNS and the Portuguese fund of :func:`loopback_as4` started, seeded, no timer
    ticks, their journals in ``tmp_path / "db"``; stopped on leaving."""
    directory, network = as4
    n = Network(
        directory,
        tmp_path / "db",
        ids=[CNS, PT],
        seed=seed,
        options=NodeOptions(tick_interval=None),
        transport=as4_transport(network),
    )
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


def receive_secured(
    pki: Pki,
    packaged: Packaged,
    pm: PModeSet | None = None,
    *,
    me: str = CPAM,
    now: datetime = NOW,
) -> Incoming:
    """``packaged`` received by ``me`` with its own credentials and the PKI's trust, at ``now``."""
    return receive_user_message(
        packaged.content_type,
        packaged.body,
        pmodes=pm or pmodes(),
        receiver=me,
        credentials=pki.credentials(me),
        trust=pki.trust,
        now=now,
    )
