"""Bounded fuzzing of every public parser (hypothesis, fixed seed: seconds, same inputs each run).

Each parser gets mutated copies of its valid inputs (the mutations of ``scripts/fuzz.py``, the
long fuzz target, driven by hypothesis's random source) and arbitrary bytes. Whatever the
input, a parser answers with a result or the project's own structured error
(:class:`eessi.errors.EessiError`); any other exception is a crash and fails the test with its
input. ``scripts/fuzz.py --parser NAME --inputs 1000000`` runs the same targets for long.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eessi_fuzz_script", ROOT / "scripts" / "fuzz.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


FUZZ = _load_script()

#: Examples per parser and strategy: a few seconds in all on a loaded machine.
EXAMPLES = 300
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Parser:
    """One parser's target and seed corpus, built once per test session."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.target = FUZZ.TARGETS[name]()
        self.seeds: list[bytes] = FUZZ.corpus(name)

    def check(self, data: bytes) -> None:
        exc = FUZZ.run_one(self.target, data)
        if exc is not None:
            kind, where = FUZZ.crash_key(exc)
            trace = "".join(traceback.format_exception(exc))
            pytest.fail(f"{self.name} crashed ({kind} at {where}) on {data[:300]!r}\n{trace}")


_PARSERS: dict[str, _Parser] = {}


def parser(name: str) -> _Parser:
    if name not in _PARSERS:
        _PARSERS[name] = _Parser(name)
    return _PARSERS[name]


SED_PARSERS = ["sed-validate", "sed-decode"]
OTHER_PARSERS = ["envelope", "household", "scenario", "directory", "trace"]


def _mutated(name: str, rnd: random.Random) -> bytes:
    p = parser(name)
    data: bytes = FUZZ.mutate(rnd, p.seeds)
    if name == "trace" and rnd.random() < 0.8:
        data = FUZZ.rechain(data)
    return data


@pytest.mark.parametrize("name", SED_PARSERS + OTHER_PARSERS)
def test_every_seed_input_is_accepted(name: str) -> None:
    p = parser(name)
    assert p.seeds
    for data in p.seeds:
        p.check(data)


@pytest.mark.parametrize("name", SED_PARSERS + OTHER_PARSERS)
@BOUNDED
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_input_gets_a_structured_error_or_a_result(name: str, rnd: random.Random) -> None:
    parser(name).check(_mutated(name, rnd))


@pytest.mark.parametrize("name", SED_PARSERS + OTHER_PARSERS)
@BOUNDED
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes_get_a_structured_error_or_a_result(name: str, data: bytes) -> None:
    parser(name).check(data)


# --- the crashes the long fuzz target found (each a regression test) ---------------------


def test_scenario_file_that_is_not_utf8_is_a_config_error() -> None:
    seed = parser("scenario").seeds[0]
    parser("scenario").check(seed.replace(b"title", b"t\xc3\x28tle", 1))


def test_scenario_expect_xpath_with_a_nul_is_a_config_error() -> None:
    p = parser("scenario")
    seed = next(s for s in p.seeds if b"xpath" in s)
    start = seed.index(b"xpath")
    quote = seed.index(b'"', start) + 1
    p.check(seed[:quote] + b"\\u0000" + seed[quote:])


def test_envelope_size_with_a_processing_instruction_is_an_envelope_error() -> None:
    # Issue 9.4, found again by scripts/fuzz.py (200,000 envelope inputs): int('') was a 500.
    p = parser("envelope")
    p.check(p.seeds[0].replace(b"<Size>", b"<Size><?x?>", 1))


def test_directory_url_with_an_unclosed_ipv6_bracket_is_a_config_error() -> None:
    p = parser("directory")
    p.check(p.seeds[0].replace(b"http://127.0.0.1", b"http://[::1", 1))


def test_scenario_step_member_that_is_a_table_is_a_config_error() -> None:
    # Found by scripts/fuzz.py (1,000,000 scenario inputs, seed 1): member = {...} crashed
    # the membership check with TypeError (unhashable dict).
    p = parser("scenario")
    seed = next(s for s in p.seeds if b'member = "' in s)
    start = seed.index(b'member = "')
    end = seed.index(b"\n", start)
    p.check(seed[:start] + b"member = { id = 1 }" + seed[end:])


@pytest.mark.parametrize("amount", [b"7" + b"0" * 40, b"inf", b"nan", b"1e300"])
def test_scenario_clock_step_too_large_or_not_finite_is_a_config_error(amount: bytes) -> None:
    # Found by scripts/fuzz.py (seed 2): days = 7e40 was an OverflowError in timedelta.
    p = parser("scenario")
    seed = next(s for s in p.seeds if b"\ndays = " in s)
    start = seed.index(b"\ndays = ") + len(b"\ndays = ")
    end = seed.index(b"\n", start)
    p.check(seed[:start] + amount + seed[end:])
