"""eDelivery AS4 for the replay: the keys it runs with and the peers it plays.

A replay plays every peer of the institution it replays (:mod:`eessi.trace.replay`): it posts
what the recording says they sent and receives what the replayed institution (or a live target)
sends them. Here the peers speak eDelivery AS4 (:mod:`eessi.as4`), as ``eessi up`` and
``eessi serve`` do:

* :func:`fresh_network`: the AS4 settings of an offline replay (and of a recording,
  :mod:`eessi.trace.record`): the shipped P-Modes (they name every institution with ``"*"``;
  the recording's own P-Modes are not in the trace) and, when secured, a **fresh test PKI**
  made in the working directory for the trace's directory (the recording's keys are not in
  the trace either; docs/decisions.md D130);
* :func:`target_network`: a live target's: the P-Modes beside the directory file and the PKI
  the target uses, which must already exist (a key made now would not be the target's);
* :class:`StandIns`: one :class:`~eessi.as4.transport.As4Endpoint` per peer (receipts
  everything, with the peer's own keys);
* :class:`Poster`: posts a recorded message as its recorded sender (built anew, signed with
  the sender's key and encrypted for the receiver as the P-Mode says, then sent by an
  :class:`~eessi.as4.transport.As4Sender` that checks the receipt).

A recorded message names its case and SED, not always its BUC (the P-Mode's Service): an AS4
journal's inbound record holds it, the other records do not. :func:`bucs_of` takes it from
the trace: the Service an inbound AS4 record of the case carries, else the BUC of the case's
first SED that belongs to a BUC.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from eessi.as4.mapping import Addressing
from eessi.as4.pki import INDEX, load_pki
from eessi.as4.pmode import default_pmodes_path, load_pmodes
from eessi.as4.startup import As4Network, ensure_pki, pmodes_for, without_security
from eessi.as4.transport import As4Endpoint, As4Sender
from eessi.clock import Clock
from eessi.directory import Directory
from eessi.errors import ConfigError, EessiError
from eessi.ids import IdGenerator
from eessi.journal.base import MessageRecord
from eessi.sed.catalogue import BUCS, SEDS, SUPPORTED_VERSIONS
from eessi.trace.format import Trace
from eessi.transport import RetryPolicy
from eessi.transport.limits import InboundLimits
from eessi.transport.seam import Inbound, Outcome

__all__ = [
    "Poster",
    "StandIns",
    "bucs_of",
    "fresh_network",
    "target_network",
]

#: Largest message a stand-in accepts.
MAX_BODY = 16 * 1024 * 1024


def fresh_network(directory: Directory, root: Path, *, security: bool = True) -> As4Network:
    """The AS4 settings of a network of ``directory`` run here (an offline replay, a
    recording): the shipped P-Modes, and (``security``) a fresh test PKI in ``root``."""
    pmodes = load_pmodes(default_pmodes_path())
    pmodes.check_parties(directory)
    if not security:
        return As4Network(without_security(pmodes), None, pmodes.source)
    return As4Network(pmodes, ensure_pki(root, directory), pmodes.source)


def target_network(directory: Directory, *, pki: Path | None, security: bool = True) -> As4Network:
    """The AS4 settings a live target uses: the P-Modes beside ``directory``'s file (else the
    shipped ones) and, when they are secured, its PKI (``pki``, else the P-Mode file's), which
    must exist: the stand-in peers decrypt and sign with the keys the target knows."""
    pmodes = pmodes_for(directory)
    if not security:
        pmodes = without_security(pmodes)
    if not any(pm.security.enabled for pm in pmodes):
        return As4Network(pmodes, None, pmodes.source)
    root = pki or pmodes.pki
    if root is None or not (root / INDEX).is_file():
        raise ConfigError(
            "the target's P-Modes are secured, and its PKI was not found"
            + (f" in {root}" if root is not None else ""),
            code="trace.target-pki",
            where=str(root / INDEX) if root is not None else "--pki",
            hint="give --pki DIR, the test PKI the target runs with (eessi up: DB-DIR/pki;"
            " eessi serve: pki/ beside the directory file, or ./eessi-pki), or --no-security"
            " when the target runs without security",
        )
    pki_loaded = load_pki(root)
    missing = [e.id for e in directory if e.eessi and e.id not in pki_loaded.certificates]
    if missing:
        raise ConfigError(
            f"the PKI in {root} has no certificate for {', '.join(missing)}",
            code="trace.target-pki",
            where=str(root / INDEX),
            hint="give the PKI the target was started with (--pki DIR)",
        )
    return As4Network(pmodes, pki_loaded, pmodes.source)


def bucs_of(trace: Trace) -> dict[str, str]:
    """The BUC of each case (conversation) of ``trace`` (see the module docstring)."""
    out: dict[str, str] = {}
    for m in trace.messages:
        if m.record.service in BUCS:
            out.setdefault(m.record.conversation_id, m.record.service)
    for m in trace.messages:
        sed = SEDS.get(m.record.sed_type)
        if sed is not None and sed.bucs:
            out.setdefault(m.record.conversation_id, sed.bucs[0])
    return out


def buc_of(record: MessageRecord, bucs: Mapping[str, str]) -> str:
    """The BUC ``record`` travels in: its case's, else any BUC its SED belongs to (a
    horizontal SED alone in its case: every BUC carries it)."""
    if record.service in BUCS:
        return record.service
    found = bucs.get(record.conversation_id)
    if found is not None:
        return found
    sed = SEDS.get(record.sed_type)
    if sed is not None and sed.bucs:
        return sed.bucs[0]
    return next(iter(BUCS))


OnMessage = Callable[[Inbound], Awaitable[Outcome]]


class StandIns:
    """One AS4 endpoint per peer, each with that peer's keys, added to aiohttp applications."""

    def __init__(
        self,
        network: As4Network,
        on_message: OnMessage,
        *,
        clock: Clock,
        ids: Callable[[], IdGenerator],
        limits: InboundLimits,
    ) -> None:
        self.network = network
        self.on_message = on_message
        self.clock = clock
        self.ids = ids
        self.limits = limits

    def add(self, app: web.Application, directory: Directory, ir_id: str, path: str) -> None:
        """Serve ``ir_id``'s stand-in at ``path`` of ``app``."""
        entry = directory.get(ir_id)
        As4Endpoint(
            self.on_message,
            ir_id,
            pmodes=self.network.pmodes,
            keys=self.network.keys(ir_id),
            max_body=MAX_BODY,
            accept_versions=entry.versions or SUPPORTED_VERSIONS,
            clock=self.clock,
            ids=self.ids(),
            path=path,
            limits=self.limits,
        ).add_routes(app)


class Poster:
    """Posts recorded messages as their recorded senders (one AS4 sender each)."""

    def __init__(
        self,
        network: As4Network,
        session: aiohttp.ClientSession,
        policy: RetryPolicy,
        bucs: Mapping[str, str],
    ) -> None:
        self.network = network
        self.session = session
        self.policy = policy
        self.bucs = bucs
        self._senders: dict[str, As4Sender] = {}

    def _sender(self, ir_id: str) -> As4Sender:
        sender = self._senders.get(ir_id)
        if sender is None:
            sender = As4Sender(
                self.session,
                ir_id,
                pmodes=self.network.pmodes,
                keys=self.network.keys(ir_id),
                rng=random.Random(0),
                policy=self.policy,
            )
            self._senders[ir_id] = sender
        return sender

    async def post(self, record: MessageRecord, url: str, *, timestamp: datetime) -> str | None:
        """Build ``record`` anew as its sender and post it to ``url`` (``timestamp`` in its
        MessageInfo); returns why it could not be sent at all (``None``: it was sent, whatever
        the answer: a refusal is the receiver's behaviour, which the replay compares)."""
        sender = self._sender(record.sender)
        addressing = Addressing(
            record.sender,
            record.receiver,
            record.conversation_id,
            buc_of(record, self.bucs),
            record.sed_type,
            record.sed_version,
        )
        try:
            entity = sender.build(
                addressing,
                record.payload,
                message_id=record.message_id,
                timestamp=timestamp,
                ref_to_message_id=record.ref_to_message_id,
            )
        except EessiError as exc:
            return f"cannot be sent as {record.sender} over AS4: {exc}"
        await sender.send(url, entity, message_id=record.message_id)
        return None
