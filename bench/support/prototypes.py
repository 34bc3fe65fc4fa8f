"""Prototypes of the optimisations proposed in docs/performance.md, for measuring them only.

Installed by ``bench/support/node.py --prototype NAME`` (through ``bench/exchange.py --prototype
NAME``) in the bench's node processes, never in the package: a prototype may monkeypatch
private parts of the package so that the expected gain of a change is a measured figure before
anyone writes the real one.

``gc-freeze``
    ``gc.collect(); gc.freeze()`` once the node is built (households, registry, desk), so the
    cyclic garbage collector's full passes no longer walk those long-lived objects (applied by
    ``node.py`` itself; measured: no effect, docs/performance.md P10).

The P1 prototypes (``one-hop-commit``, ``one-hop-writes``) are gone: they landed in
``eessi/journal/sqlite.py`` (every transaction and every group commit is one call on the
journal's writer thread), so the plain build is what they measured.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PROTOTYPES", "install"]


PROTOTYPES: dict[str, Callable[[], None]] = {
    "gc-freeze": lambda: None,  # applied by node.py once the node is built
}


def install(names: list[str]) -> None:
    for name in names:
        PROTOTYPES[name]()
