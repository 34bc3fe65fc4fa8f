from __future__ import annotations

import dataclasses
import pickle
from dataclasses import InitVar, dataclass, field

import pytest

from eessi.core.case import CaseSnapshot
from eessi.core.messages import CaseOpened
from eessi.quick_init import quick_init
from eessi.sed.catalogue import Role


@quick_init
@dataclass(frozen=True, slots=True)
class _Value:
    a: int
    b: str = "b"
    c: tuple[int, ...] = field(default_factory=lambda: (1, 2))
    d: int = field(default=4, kw_only=True)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must be >= 0")


@dataclass(frozen=True, slots=True)
class _Plain:
    a: int
    b: str = "b"
    c: tuple[int, ...] = field(default_factory=lambda: (1, 2))
    d: int = field(default=4, kw_only=True)


def test_a_quick_init_takes_the_same_arguments_and_makes_the_same_fields() -> None:
    pairs = [
        (_Value(1), _Plain(1)),
        (_Value(1, "x"), _Plain(1, "x")),
        (_Value(1, "x", (3,), d=9), _Plain(1, "x", (3,), d=9)),
        (_Value(a=2), _Plain(a=2)),
    ]
    for quick, plain in pairs:
        assert dataclasses.astuple(quick) == dataclasses.astuple(plain)
    assert _Value(1).c == (1, 2)  # the factory's value when none is given
    with pytest.raises(TypeError):
        _Value(1, "x", (3,), 9)  # type: ignore[call-arg]  # d is keyword-only, as before
    with pytest.raises(TypeError):
        _Value()  # type: ignore[call-arg]


def test_a_quick_init_still_runs_post_init_and_the_value_stays_frozen() -> None:
    with pytest.raises(ValueError, match="a must be >= 0"):
        _Value(-1)
    value = _Value(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.a = 2  # type: ignore[misc]
    assert value == _Value(1)
    assert hash(value) == hash(_Value(1))
    assert pickle.loads(pickle.dumps(value)) == value


def test_the_core_values_given_a_quick_init_build_as_before() -> None:
    snapshot_fields = [f.name for f in dataclasses.fields(CaseSnapshot)]
    assert CaseSnapshot.__init__.__qualname__ == "CaseSnapshot.__init__"
    assert "state" in snapshot_fields
    event = CaseOpened("case-1", "S_BUC_01", Role.COUNTERPARTY, peer="PT:ISS00001")
    assert (event.case_id, event.role, event.peer, event.member) == (
        "case-1",
        Role.COUNTERPARTY,
        "PT:ISS00001",
        None,
    )


def test_quick_init_refuses_what_it_cannot_do_exactly() -> None:
    @dataclass(frozen=True)
    class NotSlotted:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int
        b: int = field(default=0, init=False)

    for cls in (NotSlotted, WithInitVar, NotInInit):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)
