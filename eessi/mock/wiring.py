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
from eessi.mock.controller import MockController, MockHost
from eessi.mock.profiles import check_against_directory, default_profiles_dir, load_profiles

__all__ = ["enable_mock", "mock_controller"]


def mock_controller(
    directory: Directory | None = None,
    *,
    profiles_dir: str | Path | None = None,
    seed: int | None = None,
    stall_seconds: float = 30.0,
) -> MockController:
    """A controller over the profiles of ``profiles_dir`` (default: the shipped ones), checked
    against ``directory`` when given (a profile's fund, if listed, must be a ``mock`` entry
    with the same ``eessi`` flag)."""
    profiles = load_profiles(profiles_dir if profiles_dir is not None else default_profiles_dir())
    if directory is not None:
        check_against_directory(profiles, directory, require_all=False)
    return MockController(profiles, seed=seed, stall_seconds=stall_seconds)


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
