"""P-Modes: the shipped file matches the mapping, and every mistake names file, P-Mode, key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from eessi.as4.mapping import actions_of_buc
from eessi.as4.pmode import (
    MEP_ONE_WAY,
    MEP_PUSH,
    default_pmodes_path,
    load_pmodes,
    parse_pmodes,
    pmodes_path_beside,
)
from eessi.directory import default_directory_path, load_default_directory, parse_directory
from eessi.errors import ConfigError
from eessi.sed.catalogue import BUCS


def _doc() -> dict[str, Any]:
    return tomllib.loads(default_pmodes_path().read_text("utf-8"))


def test_shipped_pmodes_carry_every_buc_and_its_seds_one_way_push() -> None:
    pmodes = load_pmodes(default_pmodes_path())
    for buc in BUCS:
        for sed in actions_of_buc(buc):
            pm = pmodes.find(buc, sed)
            assert pm.mep == MEP_ONE_WAY
            assert pm.binding == MEP_PUSH
            assert pm.security.signs
            assert pm.security.encrypts
            assert pm.reception_awareness.duplicate_detection
    pmodes.check_parties(load_default_directory())


def test_pmodes_live_beside_the_directory() -> None:
    assert pmodes_path_beside(default_directory_path()) == default_pmodes_path()
    # the checkout's mock_institutions/directory.toml is a link to the shipped one
    link = Path(__file__).parents[2] / "mock_institutions" / "directory.toml"
    if link.exists():
        assert pmodes_path_beside(link) == default_pmodes_path()


def test_defaults_are_inherited_and_a_pmode_may_override_a_nested_key() -> None:
    doc = _doc()
    doc["pmode"][0]["security"] = {"enabled": False}
    doc["pmode"][1]["reception_awareness"] = {"retries": 0}
    pmodes = parse_pmodes(doc)
    first, second, third = pmodes
    assert not first.security.enabled
    assert not first.security.signs
    assert first.security.send_receipt  # the rest of [defaults.security] still applies
    assert second.reception_awareness.delays() == ()
    assert third.reception_awareness.delays() == (2.0, 4.0, 8.0, 16.0, 32.0)


def test_no_pmode_for_a_leg_is_processing_mode_mismatch() -> None:
    pmodes = load_pmodes(default_pmodes_path())
    with pytest.raises(ConfigError) as info:
        pmodes.find("S_BUC_24", "S072")
    assert info.value.details["ebms_code"] == "EBMS:0010"
    assert "S_BUC_24" in info.value.message


def _refused(doc: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_pmodes(doc, source="net/pmodes.toml")
    assert info.value.where is not None
    assert info.value.where.startswith("net/pmodes.toml: ")
    return info.value


def test_unknown_key_is_named_with_the_keys_allowed() -> None:
    doc = _doc()
    doc["pmode"][1]["actoins"] = ["S072"]
    err = _refused(doc)
    assert "pmode[1], key 'actoins'" in str(err.where)
    assert err.hint is not None
    assert "actions" in err.hint


def test_unsupported_algorithm_says_which_are() -> None:
    doc = _doc()
    doc["defaults"]["security"]["encryption_algorithm"] = "aes128-cbc"
    err = _refused(doc)
    assert "[security], key 'encryption_algorithm'" in str(err.where)
    assert err.hint is not None
    assert "'aes128-gcm'" in err.hint


def test_encrypting_without_signing_is_refused() -> None:
    doc = _doc()
    doc["pmode"][2]["security"] = {"sign": False}
    err = _refused(doc)
    assert "pmode 'eessi-S_BUC_24'" in str(err.where)


def test_a_leg_in_two_pmodes_is_refused() -> None:
    doc = _doc()
    doc["pmode"][1]["service"] = "S_BUC_01"
    err = _refused(doc)
    assert "already in P-Mode 'eessi-S_BUC_01'" in err.message


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("initiators", ["LU-CNS"], "key 'initiators'"),
        ("mep", "two-way", "key 'mep'"),
        ("binding", "pull", "key 'binding'"),
        ("actions", [], "key 'actions'"),
        ("max_payload_bytes", 0, "key 'max_payload_bytes'"),
        ("reception_awareness", {"retries": -1}, "[reception_awareness], key 'retries'"),
        ("reception_awareness", {"backoff": 0.5}, "[reception_awareness], key 'backoff'"),
        ("id", "", "pmode[0], key 'id'"),
    ],
)
def test_bad_values_are_refused_with_the_key(key: str, value: object, named: str) -> None:
    doc = _doc()
    doc["pmode"][0][key] = value
    err = _refused(doc)
    assert named in str(err.where)


def test_wrong_format_and_duplicate_ids_are_refused() -> None:
    doc = _doc()
    doc["format"] = 2
    assert "format" in _refused(doc).message
    doc = _doc()
    doc["pmode"][1]["id"] = doc["pmode"][0]["id"]
    assert "used twice" in _refused(doc).message


def test_a_party_not_in_the_directory_is_refused_at_start_up() -> None:
    doc = _doc()
    doc["pmode"][0]["responders"] = ["LU:CNS00001", "FR:XXXX0000"]
    pmodes = parse_pmodes(doc, source="p.toml")
    directory = parse_directory(
        tomllib.loads(default_directory_path().read_text("utf-8")), source="d.toml"
    )
    with pytest.raises(ConfigError) as info:
        pmodes.check_parties(directory)
    assert "FR:XXXX0000" in info.value.message
    assert "'responders'" in str(info.value.where)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "pmodes.toml"
    bad.write_text("format = 1\n[[pmode]\n", "utf-8")
    with pytest.raises(ConfigError) as info:
        load_pmodes(bad)
    assert info.value.where == str(bad)
    with pytest.raises(ConfigError):
        load_pmodes(tmp_path / "missing.toml")


def test_the_pki_key_is_a_path_relative_to_the_pmode_file() -> None:
    doc = _doc()
    doc["pki"] = "keys"
    assert parse_pmodes(doc, source="net/pmodes.toml").pki == Path("net/keys")
    doc["pki"] = 3
    assert "'pki'" in str(_refused(doc).where)
