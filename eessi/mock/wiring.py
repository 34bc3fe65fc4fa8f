"""Turning nodes into mock funds: one call per node, for the runtime (``eessi up``/``serve``).

::

    controller = mock_controller(directory)            # the shipped profiles, checked
    for node in nodes_of_kind_mock:                     # before node.start()
        enable_mock(node, controller)

:func:`enable_mock` plugs the behaviours into the node (:meth:`MockController.attach`) and
mounts its admin routes at ``/api/mock/`` (:func:`~eessi.mock.admin.add_mock_routes`).
"""

from __future__ import annotations

from pathlib import Path

from eessi.directory import Directory
from eessi.mock.admin import add_mock_routes
from eessi.mock.behaviour import KEEP_FINISHED
from eessi.mock.controller import LOG_LIMIT, MockController, MockHost
from eessi.mock.profiles import check_against_directory, default_profiles_dir, load_profiles

__all__ = ["enable_mock", "mock_controller"]


def mock_controller(
    directory: Directory | None = None,
    *,
    profiles_dir: str | Path | None = None,
    seed: int | None = None,
    stall_seconds: float = 30.0,
    keep_finished: int = KEEP_FINISHED,
    log_limit: int = LOG_LIMIT,
) -> MockController:
    """A controller over the profiles of ``profiles_dir`` (default: the shipped ones), checked
    against ``directory`` when given (a profile's fund, if listed, must be a ``mock`` entry
    with the same ``eessi`` flag). ``keep_finished`` and ``log_limit`` bound what each fund
    keeps in memory (D470, D471)."""
    profiles = load_profiles(profiles_dir if profiles_dir is not None else default_profiles_dir())
    if directory is not None:
        check_against_directory(profiles, directory, require_all=False)
    return MockController(
        profiles,
        seed=seed,
        stall_seconds=stall_seconds,
        keep_finished=keep_finished,
        log_limit=log_limit,
    )


def enable_mock(
    node: MockHost,
    controller: MockController,
    *,
    token: str | None = None,
    host: str | None = None,
) -> None:
    """Make ``node`` a scriptable mock fund: behaviours and ``/api/mock/`` routes. Call before
    ``await node.start()``."""
    controller.attach(node)
    add_mock_routes(node.app, node, controller, token=token, host=host)
