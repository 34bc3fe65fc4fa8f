"""What can be submitted to an institution node, and how inputs are written to the journal.

The CNS desk takes the core's inputs (:class:`~eessi.core.messages.CoInsuranceRequested`,
:class:`~eessi.core.messages.DocumentProvided`, ...). A foreign fund's desk is driven by method
calls (``request_entitlement``, ``register``...); the node gives each of them a value class
here (:class:`RequestEntitlement`, :class:`RegisterEntitlement`...), so that every action, on
either desk, is one frozen value that :meth:`Institution.submit` accepts, the journal records
and a restart replays.

:func:`input_to_json` / :func:`input_from_json` give the JSON form written in the journal's
input log (see ``docs/decisions.md``, "desk state is rebuilt by replaying the input log").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeAlias

from eessi.core.messages import (
    CoInsuranceRequested,
    DocumentProvided,
    IssueEntitlement,
    ServiceDecision,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import JournalError

__all__ = [
    "CloseCase",
    "FundCommand",
    "InvalidateDocument",
    "RegisterEntitlement",
    "RejectDocument",
    "RequestClarification",
    "RequestEntitlement",
    "SubmitInput",
    "input_from_json",
    "input_to_json",
]


@dataclass(frozen=True, slots=True)
class RequestEntitlement:
    """Foreign fund: open an S_BUC_01 case asking ``to`` (default: the directory's CNS) for the
    S072 of the person the fund knows as ``person`` (``"household/member"``)."""

    person: str
    to: str | None = None
    #: Start of the requested period (default: today).
    start: date | None = None


@dataclass(frozen=True, slots=True)
class RegisterEntitlement:
    """Foreign fund: send the S073 for the confirmed S072 of ``case_id`` (when not automatic)."""

    case_id: str


@dataclass(frozen=True, slots=True)
class InvalidateDocument:
    """Foreign fund: invalidate (X008) our document ``sed`` (e.g. ``"S073"``) in ``case_id``."""

    case_id: str
    sed: str


@dataclass(frozen=True, slots=True)
class RejectDocument:
    """Foreign fund: reject (X011) the peer's document ``sed`` in ``case_id``."""

    case_id: str
    sed: str = "S072"


@dataclass(frozen=True, slots=True)
class RequestClarification:
    """Foreign fund: ask (X012) about the peer's document ``sed`` in ``case_id``."""

    case_id: str
    sed: str = "S072"
    question: str = "Please confirm."


@dataclass(frozen=True, slots=True)
class CloseCase:
    """Foreign fund: close ``case_id`` (X001)."""

    case_id: str


FundCommand: TypeAlias = (
    RequestEntitlement
    | RegisterEntitlement
    | InvalidateDocument
    | RejectDocument
    | RequestClarification
    | CloseCase
)

#: Everything :meth:`Institution.submit` accepts (documents arrive over the network instead).
SubmitInput: TypeAlias = (
    CoInsuranceRequested
    | DocumentProvided
    | ServiceDecision
    | WithdrawEntitlement
    | IssueEntitlement
    | TimePassed
    | FundCommand
)

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        CoInsuranceRequested,
        DocumentProvided,
        ServiceDecision,
        WithdrawEntitlement,
        IssueEntitlement,
        TimePassed,
        RequestEntitlement,
        RegisterEntitlement,
        InvalidateDocument,
        RejectDocument,
        RequestClarification,
        CloseCase,
    )
}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def input_to_json(value: SubmitInput) -> dict[str, Any]:
    """``{"type": "CoInsuranceRequested", "main_insured_pin": ..., ...}``."""
    name = type(value).__name__
    if name not in _TYPES:
        raise TypeError(f"{name} is not an input the node can submit")
    out: dict[str, Any] = {"type": name}
    for f in dataclasses.fields(value):
        out[f.name] = _plain(getattr(value, f.name))
    return out


def _convert(raw: Any, hint: Any) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or isinstance(hint, types.UnionType):
        for arm in typing.get_args(hint):
            if arm is type(None):
                continue
            return _convert(raw, arm)
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return hint(raw)
        if hint is datetime:
            return datetime.fromisoformat(raw)
        if hint is date:
            return date.fromisoformat(raw)
    return raw


def input_from_json(data: dict[str, Any]) -> SubmitInput:
    """The input :func:`input_to_json` wrote; a :class:`JournalError` if it cannot be read."""
    try:
        cls = _TYPES[data["type"]]
        hints = typing.get_type_hints(cls)
        kwargs = {
            f.name: _convert(data[f.name], hints[f.name])
            for f in dataclasses.fields(cls)
            if f.name in data
        }
        value: SubmitInput = cls(**kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(
            f"the journal's input log holds an input this version cannot read: {exc}",
            code="journal.bad-input",
            hint="open the journal with the eessi-sim version that wrote it",
            details={"input": data},
        ) from exc
    return value
