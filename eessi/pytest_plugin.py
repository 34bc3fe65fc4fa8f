"""pytest plugin: the CNS and mock funds on free loopback ports, inside a test.

Registered as a ``pytest11`` entry point (name ``eessi``), so installing eessi-sim makes the
fixture available; without the entry point, load it with ``-p eessi.pytest_plugin``. Guide:
``docs/pytest-plugin.md``.

The fixture :func:`eessi_network` is a factory; each call gives an :class:`EessiNetwork` to use
with ``async with`` in an ``async def`` test. Whatever the project's asyncio mode: a test marked
for pytest-asyncio or anyio runs on their loop; an unmarked one that uses the fixture (strict
mode, or no async plugin at all) is run by this plugin on a fresh loop
(:func:`pytest_pyfunc_call`)::

    async def test_cns_answers_the_cpam(eessi_network):
        async with eessi_network(mocks=["FR:CPAM5701"]) as net:
            await net.submit("FR:CPAM5701", RequestEntitlement("martin-thionville/marie"))
            case = net.case_of("FR:CPAM5701", "marie")
            await net.wait_case_state("LU:CNS00001", case, "completed")
            await net.assert_exchanged(["FR:CPAM5701 -> LU:CNS00001 S071",
                                        "LU:CNS00001 -> FR:CPAM5701 S072",
                                        "FR:CPAM5701 -> LU:CNS00001 S073"])
            (s072,) = await net.messages(sed="S072", xpath="/sed:S072/Person/*/forename='Marie'")

Every institution is a real node (SQLite journal in the test's ``tmp_path``, schema validation,
the node's own inbox, worker and outbox) on one virtual clock (``net.clock.advance(...)`` then
``await net.tick()``: a two-month deadline passes at once). The nodes talk through the
in-memory twin of the transport (:mod:`eessi.transport.twin`: receipts, errors, retries, no
port); facing an external system (an ``external`` entry of ``directory``, or
``fixed_ports=True``) they also listen on loopback HTTP and speak eDelivery AS4 there, secured
as ``eessi up`` is (``docs/as4.md``; ``security=False`` or an unsecured P-Mode file beside the
directory to run without), where that system reaches them (``net.url(ir_id)``);
``transport="http"`` runs everything over AS4 on loopback. Nothing heavy is imported until the
fixture is used, so the plugin costs nothing to test sessions that do not use it.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from eessi.core.household import Household
    from eessi.core.messages import Step
    from eessi.node.inputs import SubmitInput
    from eessi.scenario.world import Exchange, LoopbackNetwork

__all__ = [
    "EessiNetwork",
    "NetworkFactory",
    "assert_exchanged",
    "eessi_network",
    "pytest_pyfunc_call",
]

CNS = "LU:CNS00001"


def _households(items: Sequence[Any] | None) -> list[Household]:
    from eessi.core.household import Household
    from eessi.core.household_json import loads_household
    from eessi.node.households import default_households_dir, load_households

    if items is None:
        return load_households()
    out: list[Household] = []
    for item in items:
        if isinstance(item, Household):
            out.append(item)
            continue
        path = Path(item)
        if not path.exists():
            named = default_households_dir() / f"{item}.json"
            path = named if named.exists() else path
        if path.is_dir():
            out.extend(load_households(path))
        else:
            text = path.read_text(encoding="utf-8")
            out.append(loads_household(text, source=str(path)).household)
    return out


def _flows(expected: Sequence[str]) -> list[str]:
    return [" ".join(e.replace("->", " -> ").split()) for e in expected]


def assert_exchanged(
    exchanges: Sequence[Exchange], expected: Sequence[str], *, order: str = "exact"
) -> None:
    """Assert the documents ``"SENDER -> RECEIVER SED"`` travelled: exactly these in this order
    (``order="exact"``), or these in this order with others in between (``"in-order"``)."""
    wanted = _flows(expected)
    got = [x.flow() for x in exchanges]
    if order == "exact":
        ok = got == wanted
    elif order == "in-order":
        it = iter(got)
        ok = all(any(g == w for g in it) for w in wanted)
    else:
        raise ValueError(f"order must be 'exact' or 'in-order', not {order!r}")
    if not ok:
        lines = [f"documents exchanged do not match ({order}):", "  expected:"]
        lines += [f"    {w}" for w in wanted]
        lines.append("  exchanged:")
        lines += [f"    {x.flow()}  case {x.case} {x.status}" for x in exchanges] or ["    (none)"]
        raise AssertionError("\n".join(lines))


class EessiNetwork:
    """The running network of one test (see the module docstring)."""

    def __init__(self, world: LoopbackNetwork) -> None:
        self.world = world

    # ---- access

    @property
    def clock(self) -> Any:
        """The shared :class:`~eessi.clock.VirtualClock`."""
        return self.world.clock

    @property
    def mocks(self) -> Any:
        """The :class:`~eessi.mock.controller.MockController` of the mock funds."""
        return self.world.mocks

    @property
    def cns(self) -> Any:
        return self.world.cns

    @property
    def ids(self) -> list[str]:
        return list(self.world.nodes)

    def __getitem__(self, ir_id: str) -> Any:
        return self.world[ir_id]

    def url(self, ir_id: str) -> str:
        """The AS4 endpoint of ``ir_id`` (to point an external system at it; an external
        one's own); a :class:`~eessi.errors.ConfigError` for an institution that runs here in
        memory only."""
        node = self.world.nodes.get(ir_id)
        if node is not None and node.endpoint_url is None:
            from eessi.errors import ConfigError

            raise ConfigError(
                f"{ir_id} runs in memory (the transport's twin): nothing listens on HTTP",
                code="plugin.no-http",
                hint="give the network a directory with your system as an external entry, or"
                " fixed_ports=True, or transport='http'",
            )
        endpoint: str = self.world.directory.get(ir_id).endpoint
        return endpoint

    # ---- acting

    async def submit(self, ir_id: str, value: SubmitInput, *, settle: bool = True) -> Step:
        """Submit an input (``RequestEntitlement``, ``CoInsuranceRequested``...) to ``ir_id``;
        by default wait until the whole network is idle again."""
        step: Step = await self.world[ir_id].submit(value)
        if settle:
            await self.world.idle()
        return step

    async def idle(self, within: float = 20.0) -> None:
        """Wait until nothing is in flight anywhere."""
        await self.world.idle(within)

    async def advance(self, **delta: float) -> datetime:
        """Move the virtual clock (``days=61``), let every institution look at the time, and
        wait until the reminders that caused have landed."""
        now: datetime = self.world.clock.advance(timedelta(**delta))
        await self.tick()
        return now

    async def tick(self) -> None:
        await self.world.tick()
        await self.world.idle()

    def add_rule(self, fund: str, rule: Mapping[str, Any]) -> None:
        """Add a mock behaviour rule (``{"match": {"sed": "S072"}, "effect": "silent"}``):
        in force at once, journaled like one set over the admin API (origin ``test``)."""
        from eessi.mock.behaviour import parse_rule

        book = self.world.mocks.book(fund)
        parsed = parse_rule(rule, where=f"{fund} rule", origin="test", default_id=book.next_id())
        self.world.mocks.add_rule_now(fund, parsed)

    # ---- observing

    def case_of(self, ir_id: str, member: str) -> str:
        """The latest case at ``ir_id`` about ``member`` (its ID in the household)."""
        found = self.world.cases(ir_id, member)
        if not found:
            raise AssertionError(f"{ir_id} has no case about {member}")
        return found[-1][0]

    def case_state(self, ir_id: str, case: str) -> str | None:
        return self.world.case_state(ir_id, case)

    async def wait_case_state(
        self, ir_id: str, case: str, state: str, within: float = 10.0
    ) -> None:
        """Wait until ``case`` at ``ir_id`` is in ``state`` (``"completed"``...)."""
        await self.world.wait_case_state(ir_id, case, state, within)

    async def messages(
        self,
        *,
        sed: str | None = None,
        case: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        xpath: str | None = None,
        namespaces: Mapping[str, str] | None = None,
    ) -> list[Exchange]:
        """Documents exchanged, in one stable order, filtered (XPath is prefix-insensitive:
        ``sed:`` is the document's own namespace)."""
        return await self.world.messages(
            sed=sed, case=case, sender=sender, receiver=receiver, xpath=xpath,
            namespaces=namespaces,
        )  # fmt: skip

    async def assert_exchanged(
        self, expected: Sequence[str], *, case: str | None = None, order: str = "exact"
    ) -> None:
        """Assert the documents exchanged (optionally in one case); see
        :func:`assert_exchanged`."""
        assert_exchanged(await self.world.messages(case=case), expected, order=order)

    def decision(self, member: str) -> Any:
        """The CNS's latest eligibility decision about ``member`` (``None`` if none yet):
        ``.outcome``, ``.rules``, ``.missing``, ``.attaches_to``, ``.render()``."""
        return self.world.decisions.get(member)

    def registered(self) -> dict[str, Any]:
        """The CNS's registrations by member ID (main insured, start, rules)."""
        return {ref.member: reg for ref, reg in self.world.cns_desk.registrations.items()}


class _Running:
    """``async with factory(...) as net``: starts on enter, stops on exit."""

    def __init__(self, world: LoopbackNetwork) -> None:
        self.world = world

    async def __aenter__(self) -> EessiNetwork:
        await self.world.start()
        return EessiNetwork(self.world)

    async def __aexit__(self, *exc: object) -> None:
        await self.world.stop()


class NetworkFactory:
    """What the :func:`eessi_network` fixture gives: call it to describe a network."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._count = itertools.count(1)

    def __call__(
        self,
        *,
        cns: bool = True,
        mocks: Sequence[str] = ("FR:CPAM5701",),
        households: Sequence[Any] | None = None,
        behaviours: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        start: datetime | None = None,
        seed: int = 0,
        directory: str | Path | None = None,
        fixed_ports: bool = False,
        external_within: float = 10.0,
        transport: Literal["twin", "http"] = "twin",
        security: bool = True,
        pki: str | Path | None = None,
    ) -> _Running:
        """A network of the CNS (unless ``cns=False``) and the mock funds ``mocks``.

        ``households``: household files, directories, names of the shipped examples
        (``"cross-border-france"``) or :class:`Household` values (default: every example);
        ``behaviours``: mock rules per fund, as in a profile (``docs/mock-behaviours.md``);
        ``directory``: another directory file (default: the shipped one); its ``external``
        entries (your system under test) keep their URL, and entering the network waits up to
        ``external_within`` seconds for each to answer; ``fixed_ports``: the institutions
        listen on the directory's own endpoints (where your system sends) instead of fresh
        ports; ``transport``: ``"twin"`` (in memory, plus eDelivery AS4 on loopback HTTP when
        facing an external system) or ``"http"`` (AS4 between the nodes too); ``security``:
        ``False`` runs AS4 without signing or encryption whatever the P-Modes say; ``pki``:
        the network's test PKI (default: the P-Mode file's ``pki``, else ``pki/`` beside
        ``directory``, made there at the first start; your system's key and the CA are there).
        """
        from eessi.directory import load_directory
        from eessi.mock.behaviour import parse_rules
        from eessi.scenario.world import LoopbackNetwork

        ids = ([CNS] if cns else []) + list(mocks)
        rules = {
            fund: parse_rules(items, where=f"behaviours[{fund!r}]", origin="test")
            for fund, items in (behaviours or {}).items()
        }
        world = LoopbackNetwork(
            ids,
            _households(households),
            workdir=self.tmp_path / f"eessi-network-{next(self._count)}",
            start=start,
            seed=seed,
            behaviours=rules,
            directory=None if directory is None else load_directory(directory),
            fixed_ports=fixed_ports,
            external_within=external_within,
            transport=transport,
            security=security,
            pki=pki,
        )
        return _Running(world)


@pytest.fixture
def eessi_network(tmp_path: Path) -> NetworkFactory:
    """A factory of in-process EESSI networks (``async with eessi_network(...) as net``)."""
    return NetworkFactory(tmp_path)


#: Markers of the async plugins that run a coroutine test themselves.
_ASYNC_MARKERS = ("asyncio", "anyio", "trio")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test that uses :func:`eessi_network` and that no async plugin
    claims (pytest-asyncio's strict mode without ``@pytest.mark.asyncio``, or no async plugin
    installed) on a fresh event loop, so the documented example runs in any project. Tests
    marked for pytest-asyncio or anyio (auto mode marks every async test) are left to them."""
    func = pyfuncitem.obj
    if "eessi_network" not in pyfuncitem.fixturenames or not inspect.iscoroutinefunction(func):
        return None
    if any(pyfuncitem.get_closest_marker(name) for name in _ASYNC_MARKERS):
        return None
    wanted = inspect.signature(func).parameters
    kwargs = {name: value for name, value in pyfuncitem.funcargs.items() if name in wanted}
    asyncio.run(func(**kwargs))
    return True
