"""The pytest plugin, tested as a user would use it: a pytester project with async tests."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

# pytester runs the inner session in this process and afterwards drops the modules it imported;
# a later inner run would import fresh copies of some eessi modules next to old copies of others
# (whatever this process imported first), and classes of two generations do not match. So
# everything the plugin uses is imported here, once, for every inner run to share (not the
# plugin itself: pytest must import it to rewrite its asserts).
import eessi.errors
import eessi.node.admin
import eessi.node.inputs
import eessi.scenario.world  # noqa: F401

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


def _plugin_args() -> list[str]:
    """``-p eessi.pytest_plugin`` unless the installed entry point loads it already."""
    if entry_points(group="pytest11", name="eessi"):
        return []
    return ["-p", "eessi.pytest_plugin"]


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makeini(INI)
    pytester.makepyfile(source)
    return pytester.runpytest(*_plugin_args(), "-q", "-p", "no:cacheprovider")


def test_a_user_project_runs_the_R17_flow_and_asserts_on_documents(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
from eessi.node.inputs import RequestEntitlement

async def test_flow(eessi_network):
    network = eessi_network(mocks=["PT:ISS00001"], households=["resident-with-family-abroad"])
    async with network as net:
        await net.submit("PT:ISS00001", RequestEntitlement("silva-luxembourg/ana"))
        case = net.case_of("PT:ISS00001", "ana")
        await net.wait_case_state("LU:CNS00001", case, "completed", within=5)
        await net.assert_exchanged([
            "PT:ISS00001 -> LU:CNS00001 S071",
            "LU:CNS00001 -> PT:ISS00001 S072",
            "PT:ISS00001 -> LU:CNS00001 S073",
        ], case=case)
        (s072,) = await net.messages(sed="S072", case=case,
                                     xpath="/sed:S072/Person/PersonIdentification/forename = 'Ana'")
        assert s072.status == "processed"
        assert s072.version == "4.3"
        assert await net.messages(sed="S072", xpath="//forename = 'Nobody'") == []
        assert net.registered()["ana"].main_insured == "joao"
        assert "R17" in net.decision("ana").rules
        assert net.decision("rui") is None
""",
    )
    result.assert_outcomes(passed=1)


def test_a_wrong_expectation_fails_the_user_test_with_what_was_exchanged(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
from eessi.node.inputs import RequestEntitlement

async def test_flow(eessi_network):
    async with eessi_network(mocks=["FR:CPAM5701"]) as net:
        await net.submit("FR:CPAM5701", RequestEntitlement("martin-thionville/marie"))
        await net.assert_exchanged(["FR:CPAM5701 -> LU:CNS00001 S071"])
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*documents exchanged do not match (exact):*",
            "*LU:CNS00001 -> FR:CPAM5701 S072  case FR-*processed*",
        ]
    )


def test_behaviours_virtual_clock_parallel_networks_and_clear_errors(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
import pytest
from eessi.errors import ConfigError
from eessi.node.inputs import RequestEntitlement

async def test_silent(eessi_network):
    behaviours = {"FR:CPAM5701": [{"match": {"sed": "S072"}, "effect": "silent"}]}
    async with eessi_network(mocks=["FR:CPAM5701"], behaviours=behaviours) as net:
        await net.submit("FR:CPAM5701", RequestEntitlement("martin-thionville/marie"))
        case = net.case_of("LU:CNS00001", "marie")
        assert await net.messages(sed="X009") == []
        await net.advance(days=61)
        (x009,) = await net.messages(sed="X009", case=case, sender="LU:CNS00001")
        assert x009.matches("/sed:X009/AwaitedSED/sedType = 'S073'")
        await net.assert_exchanged(
            ["FR:CPAM5701 -> LU:CNS00001 S071", "LU:CNS00001 -> FR:CPAM5701 X009"],
            order="in-order",
        )

async def test_rule_added_while_running(eessi_network):
    async with eessi_network(mocks=["FR:CPAM5701"]) as net:
        refuse = {"kind": "refuse", "x011": "04"}
        net.add_rule("FR:CPAM5701", {"match": {"sed": "S072"}, "effect": refuse})
        await net.submit("FR:CPAM5701", RequestEntitlement("martin-thionville/marie"))
        (x011,) = await net.messages(sed="X011")
        assert x011.sender == "FR:CPAM5701"

async def test_two_networks_do_not_collide(eessi_network):
    async with eessi_network() as a, eessi_network() as b:  # in memory: nothing listens
        with pytest.raises(ConfigError, match="runs in memory"):
            a.url("LU:CNS00001")
        await a.submit("FR:CPAM5701", RequestEntitlement("martin-thionville/marie"))
        await b.submit("FR:CPAM5701", RequestEntitlement("martin-thionville/marie"))
        assert len(await a.messages(sed="S071")) == len(await b.messages(sed="S071")) == 1
    async with eessi_network(transport="http") as a, eessi_network(transport="http") as b:
        assert a.url("LU:CNS00001") != b.url("LU:CNS00001")
        assert a.url("LU:CNS00001").startswith("http://127.0.0.1:")

async def test_unknown_institution(eessi_network):
    with pytest.raises(ConfigError, match="XX:NOPE0001 is not in the directory"):
        async with eessi_network(mocks=["XX:NOPE0001"]):
            pass
""",
    )
    result.assert_outcomes(passed=4)
