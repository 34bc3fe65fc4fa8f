"""Wiring mock funds into nodes: the controller from the shipped profiles, checked against a
directory; one call makes a node a scriptable mock with its /api/mock/ routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from eessi.directory import load_default_directory, load_directory
from eessi.errors import ConfigError
from eessi.mock.wiring import enable_mock, mock_controller
from eessi.node.households import load_households
from eessi.node.network import open_institution

from .kit import FR, write_directory


def test_the_controller_knows_every_shipped_profile() -> None:
    controller = mock_controller(load_default_directory(), seed=3)
    assert {FR, "LU:CMCM0001", "BR:NOAGRMT1"} <= set(controller.profiles)
    assert controller.book(FR).rules == ()


def test_a_profile_whose_fund_is_listed_with_another_kind_is_refused(tmp_path: Path) -> None:
    text = write_directory(tmp_path).read_text(encoding="utf-8")
    edited = tmp_path / "edited.toml"
    edited.write_text(
        text.replace(
            'id = "FR:CPAM5701"\ncountry = "FR"', 'id = "FR:CPAM5701"\ncountry = "FR"'
        ).replace('kind = "mock"', 'kind = "external"', 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="has no mock entry"):
        mock_controller(load_directory(edited))


async def test_enable_mock_serves_the_mock_routes(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    controller = mock_controller(directory)
    node = await open_institution(
        directory.get(FR),
        directory,
        tmp_path / "fr.sqlite",
        households=load_households(),
        seed=1,
        synchronous="NORMAL",
    )
    enable_mock(node, controller)
    await node.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{node.url}/api/mock/profile") as resp,
        ):
            assert resp.status == 200
            assert (await resp.json())["profile"]["id"] == FR
        assert controller.funds == (FR,)
    finally:
        await node.stop()
        await node.journal.close()
