"""Layer 2: the pure co-insurance core (households, rules R1-R18 and S1-S4, BUC machines).

``import eessi.core`` is the public entry point: the two desks, their inputs, the events and
steps they answer with. Nothing under this package imports asyncio, aiohttp, lxml, sqlite or
reads the wall clock: time comes from an injected :class:`eessi.clock.Clock`, IDs from an
:class:`eessi.ids.IdGenerator`. ``tests/core/test_purity.py`` checks it.

Two desks, one per side of the R17/R5 exchanges, each a sans-I/O facade in the style of h11:
"this happened" (:data:`CnsInput`, :data:`FundInput`) → "events, documents to send, timers"
(:class:`Step`), through one ``handle()`` each.

- :class:`CnsDesk` (:mod:`eessi.core.cns`): the CNS. Answers S071 with one S072 per member,
  registers on the S073, asks former funds for S041 (R5), requests R15 documents, refers to the
  CNS service (R11, R18), reminds overdue peers, sends an S072 unasked (S_BUC_01A).
- :class:`FundDesk` (:mod:`eessi.core.fund`): a foreign fund, the mirror. Asks for the S072,
  registers and confirms with S073, answers S040 with S041 from its records; its operator's
  commands (:data:`FundCommand`) are inputs like documents and time.

Time comes from an injected :class:`~eessi.clock.Clock` (and :class:`TimePassed`), IDs from an
injected :class:`~eessi.ids.IdGenerator`: the same inputs give the same outputs. Run two desks
against each other by handing each :class:`Outgoing` to the receiver as
``outgoing.received_by_peer(sender)``.
"""

from __future__ import annotations

from eessi.core.cns import CnsDesk, CnsParams, CnsState, DocumentRequest, Registration
from eessi.core.fund import FundDesk, FundPolicy, FundRecord, FundState
from eessi.core.messages import (
    AskAgain,
    CaseEvent,
    CaseOpened,
    CaseStateChanged,
    Channel,
    CloseCase,
    CnsInput,
    CoInsuranceRegistered,
    CoInsuranceRequested,
    DecisionMade,
    DocumentProvided,
    DocumentReceived,
    DocumentRefused,
    DocumentsReminder,
    DocumentsRequested,
    EntitlementAnswered,
    EntitlementIssued,
    EntitlementRecorded,
    EntitlementRefused,
    EntitlementRegistered,
    EntitlementUnrecorded,
    EntitlementUnregistered,
    Event,
    FundCommand,
    FundInput,
    Input,
    InvalidateDocument,
    IssueEntitlement,
    MemberRef,
    NotRegistered,
    Outgoing,
    PersonUnknown,
    ReferredToService,
    RegisterEntitlement,
    RegistrationWithdrawn,
    RejectDocument,
    ReminderSent,
    RequestClarification,
    RequestEntitlement,
    RequestRejected,
    ServiceDecision,
    Step,
    TimePassed,
    Timer,
    WithdrawEntitlement,
)
from eessi.core.registry import CnsRegistry, RegistryEntry

__all__ = [
    "AskAgain",
    "CaseEvent",
    "CaseOpened",
    "CaseStateChanged",
    "Channel",
    "CloseCase",
    "CnsDesk",
    "CnsInput",
    "CnsParams",
    "CnsRegistry",
    "CnsState",
    "CoInsuranceRegistered",
    "CoInsuranceRequested",
    "DecisionMade",
    "DocumentProvided",
    "DocumentReceived",
    "DocumentRefused",
    "DocumentRequest",
    "DocumentsReminder",
    "DocumentsRequested",
    "EntitlementAnswered",
    "EntitlementIssued",
    "EntitlementRecorded",
    "EntitlementRefused",
    "EntitlementRegistered",
    "EntitlementUnrecorded",
    "EntitlementUnregistered",
    "Event",
    "FundCommand",
    "FundDesk",
    "FundInput",
    "FundPolicy",
    "FundRecord",
    "FundState",
    "Input",
    "InvalidateDocument",
    "IssueEntitlement",
    "MemberRef",
    "NotRegistered",
    "Outgoing",
    "PersonUnknown",
    "ReferredToService",
    "RegisterEntitlement",
    "Registration",
    "RegistrationWithdrawn",
    "RegistryEntry",
    "RejectDocument",
    "ReminderSent",
    "RequestClarification",
    "RequestEntitlement",
    "RequestRejected",
    "ServiceDecision",
    "Step",
    "TimePassed",
    "Timer",
    "WithdrawEntitlement",
]
