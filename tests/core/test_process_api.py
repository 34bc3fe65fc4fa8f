"""The process's public API: one import gives the desks, inputs, outputs and every event."""

from __future__ import annotations

import typing

import eessi.core.messages as messages
import eessi.core.process as process


def test_every_name_in_all_is_importable() -> None:
    for name in process.__all__:
        assert getattr(process, name) is not None, name
    assert sorted(process.__all__) == process.__all__


def test_every_event_and_input_type_is_exported() -> None:
    for union in (messages.Event, messages.Input):
        for kind in typing.get_args(union):
            assert kind.__name__ in process.__all__, kind.__name__
            assert getattr(process, kind.__name__) is kind


def test_the_value_types_are_frozen_and_slotted() -> None:
    for union in (messages.Event, messages.Input):
        for kind in typing.get_args(union):
            params = kind.__dataclass_params__
            assert params.frozen, kind.__name__
            assert "__slots__" in vars(kind), kind.__name__
