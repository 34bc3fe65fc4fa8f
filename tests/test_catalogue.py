from __future__ import annotations

import pytest

from eessi.errors import UnknownSedError
from eessi.sed import catalogue as cat


def test_every_buc_flow_is_made_of_known_seds_that_answer_in_order() -> None:
    for b in cat.BUCS.values():
        assert b.flow[0] == b.starter
        for prev, nxt in zip(b.flow, b.flow[1:], strict=False):
            assert prev in cat.SEDS[nxt].answers, f"{b.name}: {nxt} should answer {prev}"
        for code in b.flow:
            assert b.name in cat.SEDS[code].bucs


def test_namespace_round_trips_for_every_sed_and_version() -> None:
    for code in cat.SEDS:
        for version in cat.SUPPORTED_VERSIONS:
            ns = cat.namespace(code, version)
            assert cat.parse_namespace(ns) == (code, version)


@pytest.mark.parametrize(
    "ns",
    ["", "urn:x", "http://ec.europa.eu/eessi/ns/4_4/", "http://ec.europa.eu/eessi/ns/44/S071"],
)
def test_parse_namespace_rejects_non_eessi_namespaces(ns: str) -> None:
    assert cat.parse_namespace(ns) is None


def test_unknown_sed_type_error_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSedError) as info:
        cat.sed_type("S999")
    assert "S071" in (info.value.hint or "")
    assert info.value.to_dict()["code"] == "sed.unknown-type"
