"""Prototypes of the optimisations proposed in docs/performance.md, for measuring them only.

Installed by ``bench/support/node.py --prototype NAME`` (through ``bench/exchange.py --prototype
NAME``) in the bench's node processes, never in the package: a prototype may monkeypatch
private parts of the package so that the expected gain of a change is a measured figure before
anyone writes the real one.

``gc-freeze``
    ``gc.collect(); gc.freeze()`` once the node is built (households, registry, desk), so the
    cyclic garbage collector's full passes no longer walk those long-lived objects (applied by
    ``node.py`` itself; measured: no effect, docs/performance.md P10).

``one-hop-commit`` and ``one-hop-writes`` (proposal P1) have landed in
``eessi/journal/sqlite.py``: every transaction and every group commit is one call on the
journal's writer thread. Asking for them stops the node with a message saying so, rather than
measuring the plain build under a prototype's name.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PROTOTYPES", "install"]


def _landed(name: str) -> Callable[[], None]:
    def refuse() -> None:
        raise SystemExit(
            f"prototype {name!r} has landed in eessi/journal/sqlite.py (P1, one thread hop per"
            " commit): the plain build is what it measured; run without --prototype"
        )

    return refuse


PROTOTYPES: dict[str, Callable[[], None]] = {
    "gc-freeze": lambda: None,  # applied by node.py once the node is built
    "one-hop-commit": _landed("one-hop-commit"),
    "one-hop-writes": _landed("one-hop-writes"),
}


def install(names: list[str]) -> None:
    for name in names:
        PROTOTYPES[name]()
