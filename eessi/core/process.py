"""The co-insurance process: one import for the two desks and their messages.

Two desks, one per side of the R17/R5 exchanges, each a sans-I/O facade in the style of h11:
"this happened" (:data:`Input`) → "events, documents to send, timers" (:class:`Step`).

- :class:`CnsDesk` (:mod:`eessi.core.cns`): the CNS. Answers S071 with one S072 per member,
  registers on the S073, asks former funds for S041 (R5), requests R15 documents, refers to the
  CNS service (R11, R18), reminds overdue peers.
- :class:`FundDesk` (:mod:`eessi.core.fund`): a foreign fund, the mirror. Asks for the S072,
  registers and confirms with S073, answers S040 with S041 from its records.

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
    "ServiceDecision",
    "Step",
    "TimePassed",
    "Timer",
    "WithdrawEntitlement",
]
