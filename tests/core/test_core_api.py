"""The core's public API is ``import eessi.core``: the desks, inputs, outputs and every event."""

from __future__ import annotations

import typing

import eessi.core as core
import eessi.core.messages as messages


def test_every_name_in_all_is_importable() -> None:
    for name in core.__all__:
        assert getattr(core, name) is not None, name
    assert sorted(core.__all__) == core.__all__


def test_every_event_and_input_type_is_exported() -> None:
    for union in (messages.Event, messages.Input, messages.FundInput):
        for kind in typing.get_args(union):
            assert kind.__name__ in core.__all__, kind.__name__
            assert getattr(core, kind.__name__) is kind


def test_the_value_types_are_frozen_and_slotted() -> None:
    for union in (messages.Event, messages.Input, messages.FundInput):
        for kind in typing.get_args(union):
            params = kind.__dataclass_params__
            assert params.frozen, kind.__name__
            assert "__slots__" in vars(kind), kind.__name__
