"""What can be submitted to an institution node, and how inputs are written to the journal.

Both desks take frozen values through one ``handle()``: the CNS desk its inputs
(:class:`~eessi.core.messages.CoInsuranceRequested`, :class:`~eessi.core.messages.DocumentProvided`,
...), a foreign fund's desk its commands (:class:`~eessi.core.messages.RequestEntitlement`,
:class:`~eessi.core.messages.RegisterEntitlement`..., defined in :mod:`eessi.core.messages` and
re-exported here). Every action, on either desk, is one value that :meth:`Institution.submit`
accepts, the journal records and a restart replays.

:func:`input_to_json` / :func:`input_from_json` give the JSON form written in the journal's
input log (see ``docs/decisions.md``, "desk state is rebuilt by replaying the input log").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeAlias

from eessi.core import (
    CloseCase,
    CoInsuranceRequested,
    DocumentProvided,
    InvalidateDocument,
    IssueEntitlement,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    ServiceDecision,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import DomainError, JournalError

if TYPE_CHECKING:
    from eessi.core.messages import Step
    from eessi.node.desk_factory import Desk

__all__ = [
    "CloseCase",
    "FundCommand",
    "InvalidateDocument",
    "RegisterEntitlement",
    "RejectDocument",
    "RequestClarification",
    "RequestEntitlement",
    "SubmitInput",
    "apply_input",
    "input_from_json",
    "input_to_json",
]


#: The fund's commands a node accepts (``AskAgain`` is the desk's only, not submitted yet).
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


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """The field types of an input class, looked up once per class (not per journal line)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def input_from_json(data: dict[str, Any]) -> SubmitInput:
    """The input :func:`input_to_json` wrote; a :class:`JournalError` if it cannot be read."""
    try:
        cls = _TYPES[data["type"]]
        hints = _hints(cls)
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


def apply_input(desk: Desk, value: SubmitInput, *, cns_id: Callable[[], str], where: str) -> Step:
    """Hand ``value`` to ``desk.handle`` (each desk has one) the way every institution does.

    The one dispatch shared by the live node and the offline replay, so both feed a desk the
    same way. A fund's :class:`RequestEntitlement` without ``to`` goes to the directory's CNS:
    ``cns_id`` is asked then, and only then. A value sent to the wrong kind of desk is a
    :class:`DomainError` (``node.wrong-desk``) naming ``where``.
    """
    from eessi.core import FundDesk

    if isinstance(desk, FundDesk):
        if isinstance(value, RequestEntitlement) and value.to is None:
            value = dataclasses.replace(value, to=cns_id())
        if isinstance(value, _FUND_INPUTS):
            return desk.handle(value)
    elif isinstance(value, _CNS_INPUTS):
        return desk.handle(value)
    raise DomainError(
        f"{type(value).__name__} cannot be handled by {where}",
        where=where,
        code="node.wrong-desk",
        hint="CNS inputs go to the CNS, fund actions to a foreign fund",
    )


_FUND_INPUTS = (
    RequestEntitlement,
    RegisterEntitlement,
    InvalidateDocument,
    RejectDocument,
    RequestClarification,
    CloseCase,
    TimePassed,
)
_CNS_INPUTS = (
    CoInsuranceRequested,
    DocumentProvided,
    ServiceDecision,
    WithdrawEntitlement,
    IssueEntitlement,
    TimePassed,
)
