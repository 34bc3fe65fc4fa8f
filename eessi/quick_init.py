"""A faster ``__init__`` for the core's frozen slotted dataclasses (D345).

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__(self,
name, value)`` (a frozen class's own ``__setattr__`` refuses): a generic attribute lookup per
field. A slotted class has a descriptor per field whose ``__set__`` stores the value directly,
about twice as fast for the whole construction; the desks build several such values per input
(case snapshots, exchanges, events), where the generated ``__init__``s were 13-14 % of an
offline replay's samples. :func:`quick_init` gives a class an ``__init__`` written that way:
the same parameters (positional, keyword-only, defaults, default factories), the same
``__post_init__`` call after the fields are set, nothing else changed (fields, slots, equality,
hashing, pickling, the checkpoint fingerprint of D185: it reads fields only). It lives
outside ``eessi.core`` because that fingerprint also names every module of the package.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

_T = TypeVar("_T", bound=type)


def quick_init(cls: _T) -> _T:
    """Give the frozen slotted dataclass ``cls`` an ``__init__`` that sets its fields through
    their slots (see the module docstring). Refuses (``TypeError``) a class it cannot do this
    for exactly: not a slotted dataclass, a field left out of ``__init__``, an ``InitVar``."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: quick_init needs a slotted dataclass")
    if len(dataclasses.fields(cls)) != len(cls.__dataclass_fields__):
        raise TypeError(f"{cls.__qualname__}: quick_init does not handle InitVar or ClassVar")
    env: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for i, f in enumerate(dataclasses.fields(cls)):
        if not f.init:
            raise TypeError(f"{cls.__qualname__}.{f.name}: quick_init needs it in __init__")
        env[f"_s{i}"] = getattr(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            env[f"_d{i}"] = f.default
            param = f"{f.name}=_d{i}"
            value = f.name
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_f{i}"] = f.default_factory
            param = f"{f.name}=_MISSING"
            value = f"_f{i}() if {f.name} is _MISSING else {f.name}"
        else:
            param = f.name
            value = f.name
        (keyword if f.kw_only else positional).append(param)
        body.append(f"    _s{i}(self, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    params = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({params}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(compile(source, f"<quick __init__ of {cls.__qualname__}>", "exec"), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning to __init__)
    return cls
