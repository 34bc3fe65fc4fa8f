from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import eessi
from eessi.directory import (
    Directory,
    default_directory_path,
    load_default_directory,
    load_directory,
    parse_directory,
)
from eessi.errors import ConfigError
from eessi.sed.catalogue import BUCS, SUPPORTED_VERSIONS

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
format = 1

[[institution]]
id = "LU:CNS00001"
country = "LU"
name = "Caisse nationale de santé"
kind = "cns"
roles = ["competent", "residence"]
endpoint = "http://127.0.0.1:8701/as4"
bucs = ["S_BUC_24", "S_BUC_01"]
versions = ["4.4", "4.3"]
languages = ["fr", "de"]
credential = "0123456789abcdef-cns"

[[institution]]
id = "FR:CPAM5701"
country = "FR"
name = "CPAM de la Moselle"
kind = "mock"
roles = ["residence"]
endpoint = "https://127.0.0.1:8702/as4"
admin = "http://127.0.0.1:8802/"
bucs = ["S_BUC_01"]
versions = ["4.4"]
credential = "0123456789abcdef-fr"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def broken(**changes: Any) -> dict[str, Any]:
    """The GOOD document with keys of its second institution changed (None deletes)."""
    doc = tomllib.loads(GOOD)
    for key, value in changes.items():
        if value is None:
            del doc["institution"][1][key]
        else:
            doc["institution"][1][key] = value
    return doc


def error_of(doc: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_directory(doc, source="net.toml")
    return info.value


# -- loading ----------------------------------------------------------------------------------
def test_a_good_directory_loads_with_normalised_lists(tmp_path: Path) -> None:
    directory = load_directory(write(tmp_path, GOOD))
    assert directory.ids == ("LU:CNS00001", "FR:CPAM5701")
    cns = directory.get("LU:CNS00001")
    assert cns.bucs == ("S_BUC_01", "S_BUC_24")
    assert cns.versions == ("4.3", "4.4")
    assert cns.kind == "cns"
    assert cns.admin is None
    assert directory.get("FR:CPAM5701").admin == "http://127.0.0.1:8802/"
    assert directory.source == str(tmp_path / "directory.toml")


def test_lookups_by_id_and_kind() -> None:
    directory = parse_directory(tomllib.loads(GOOD))
    assert "FR:CPAM5701" in directory
    assert len(directory) == 2
    assert directory.find("DE:TKK00001") is None
    assert [e.id for e in directory.of_kind("mock")] == ["FR:CPAM5701"]
    assert directory.credential("FR:CPAM5701") == "0123456789abcdef-fr"
    assert directory.credential("DE:TKK00001") is None


def test_an_unknown_receiver_is_a_clear_error(tmp_path: Path) -> None:
    directory = load_directory(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as info:
        directory.get("DE:TKK00001")
    err = info.value
    assert err.code == "directory.unknown-institution"
    assert "DE:TKK00001" in err.message
    assert err.where == str(tmp_path / "directory.toml")
    assert err.hint is not None
    assert "LU:CNS00001, FR:CPAM5701" in err.hint


def test_supports_checks_buc_and_version() -> None:
    fr = parse_directory(tomllib.loads(GOOD)).get("FR:CPAM5701")
    assert fr.supports("S_BUC_01")
    assert fr.supports("S_BUC_01", "4.4")
    assert not fr.supports("S_BUC_01", "4.3")
    assert not fr.supports("S_BUC_24")


def test_the_credential_never_shows_in_repr_or_default_json() -> None:
    fr = parse_directory(tomllib.loads(GOOD)).get("FR:CPAM5701")
    assert "0123456789abcdef" not in repr(fr)
    assert "credential" not in fr.to_dict()
    assert fr.to_dict(include_credential=True)["credential"] == "0123456789abcdef-fr"


def test_a_missing_file_says_which_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no directory file") as info:
        load_directory(tmp_path / "nope.toml")
    assert info.value.hint is not None
    assert "--directory" in info.value.hint


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('country = "FR"', 'country = "FR'))
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_directory(path)
    assert info.value.where == str(path)
    assert "line 17" in info.value.message


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_bytes(GOOD.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_directory(path)


# -- validation: every error names file, institution and key -----------------------------------
@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"id": "FR-CPAM5701"}, "id", "is not an IR ID"),
        ({"id": "FR:CP"}, "id", "is not an IR ID"),
        ({"id": "FR:CPAM57012345"}, "id", "is not an IR ID"),
        ({"country": "BE"}, "country", "does not match the ID FR:CPAM5701"),
        ({"endpoint": "ftp://127.0.0.1/as4"}, "endpoint", "is not an http(s) URL"),
        ({"endpoint": "127.0.0.1:8702"}, "endpoint", "is not an http(s) URL"),
        ({"endpoint": "http://127.0.0.1:99999/as4"}, "endpoint", "invalid port"),
        ({"admin": "localhost"}, "admin", "is not an http(s) URL"),
        ({"versions": ["4.4", "4.2"]}, "versions", "'4.2' is not supported"),
        ({"versions": []}, "versions", "at least one SED version"),
        ({"versions": ["4.4", "4.4"]}, "versions", "listed twice"),
        ({"bucs": ["S_BUC_99"]}, "bucs", "unknown BUC 'S_BUC_99'"),
        ({"bucs": "S_BUC_01"}, "bucs", "must be a list of strings"),
        ({"bucs": None}, "bucs", "at least one BUC"),
        ({"kind": "robot"}, "kind", "unknown kind 'robot'"),
        ({"roles": ["boss"]}, "roles", "unknown role 'boss'"),
        ({"roles": []}, "roles", "at least one role"),
        ({"languages": ["French"]}, "languages", "not a language code"),
        ({"credential": "short"}, "credential", "shorter than 16"),
        ({"credential": "0123456789abcdef-cns"}, "credential", "also the credential of LU:CNS"),
        ({"endpoint": "http://127.0.0.1:8701/as4"}, "endpoint", "also the endpoint of LU:CNS"),
        ({"name": ""}, "name", "non-empty string"),
        ({"name": None}, "name", "is missing"),
        ({"eessi": "yes"}, "eessi", "true or false"),
        ({"endpont": "http://x/"}, "endpont", "unknown key 'endpont'"),
    ],
)
def test_each_mistake_names_file_institution_and_key(
    changes: dict[str, Any], key: str, message: str
) -> None:
    err = error_of(broken(**changes))
    assert message in err.message
    assert err.where is not None
    assert err.where.startswith("net.toml: institution #2")
    assert err.where.endswith(f"key {key!r}")
    assert err.hint
    assert err.details["key"] == key


def test_an_error_names_the_institution_by_id_when_it_has_one() -> None:
    err = error_of(broken(versions=["9.9"]))
    assert err.where == "net.toml: institution #2 (FR:CPAM5701), key 'versions'"
    assert "4.3, 4.4" in (err.hint or "")


def test_ids_are_unique() -> None:
    err = error_of(broken(id="LU:CNS00001", country="LU"))
    assert "listed twice (also institution #1)" in err.message


def test_a_non_eessi_country_must_say_eessi_false() -> None:
    err = error_of(broken(id="RS:RFZO0001", country="RS"))
    assert "RS does not take part in EESSI" in err.message
    assert "eessi = false" in (err.hint or "")


def test_an_institution_outside_eessi_lists_no_bucs() -> None:
    err = error_of(broken(id="MA:CNSS0001", country="MA", eessi=False))
    assert "cannot list BUCs" in err.message
    ok = parse_directory(
        broken(id="MA:CNSS0001", country="MA", eessi=False, bucs=None, versions=None)
    )
    entry = ok.get("MA:CNSS0001")
    assert not entry.eessi
    assert (entry.bucs, entry.versions) == ((), ())
    assert not entry.supports("S_BUC_01")


def test_greece_and_eu_bodies_use_the_eessi_spelling() -> None:
    ok = parse_directory(broken(id="EL:EOPYY001", country="EL"))
    assert "EL:EOPYY001" in ok
    err = error_of(broken(id="GR:EOPYY001", country="GR"))
    assert "GR does not take part in EESSI" in err.message


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": 2, "institution": []}, "format 2 is not supported"),
        ({"institution": []}, "lists no institution"),
        ({"institutions": []}, "unknown top-level key 'institutions'"),
    ],
)
def test_top_level_mistakes(doc: dict[str, Any], message: str) -> None:
    assert message in error_of(doc).message


# -- the default directory ---------------------------------------------------------------------
def test_the_default_directory_has_the_cns_and_the_mock_funds() -> None:
    directory = load_default_directory()
    assert [e.id for e in directory.of_kind("cns")] == ["LU:CNS00001"]
    mocks = directory.of_kind("mock")
    assert {e.country for e in mocks} == {"FR", "BE", "DE", "PT", "RS"}
    assert "Moselle" in directory.get("FR:CPAM5701").name
    for entry in directory:
        assert entry.endpoint.startswith("http://127.0.0.1:87"), entry.id
        assert entry.endpoint.endswith("/as4")
        assert entry.languages
        assert entry.credential.startswith("sim-only-")


def test_the_default_bilateral_fund_is_outside_eessi() -> None:
    [bilateral] = [e for e in load_default_directory() if not e.eessi]
    assert bilateral.country in {"RS", "MA"}
    assert bilateral.bucs == ()


def test_the_default_eessi_funds_support_every_simulated_buc() -> None:
    for entry in load_default_directory():
        if entry.eessi:
            assert set(entry.bucs) == set(BUCS), entry.id
            assert set(entry.versions) <= set(SUPPORTED_VERSIONS)


def test_the_default_ships_inside_the_package() -> None:
    package = Path(eessi.__file__).resolve().parent
    assert package in default_directory_path().parents


def test_mock_institutions_directory_is_the_packaged_default() -> None:
    checkout_copy = ROOT / "mock_institutions" / "directory.toml"
    assert checkout_copy.resolve() == default_directory_path()
    assert isinstance(load_directory(checkout_copy), Directory)


# -- credentials from the environment ----------------------------------------------------------
def test_a_credential_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EESSI_TEST_FR_SECRET", "a-secret-kept-out-of-the-file")
    doc = broken(credential=None, credential_env="EESSI_TEST_FR_SECRET")
    entry = parse_directory(doc).get("FR:CPAM5701")
    assert entry.credential == "a-secret-kept-out-of-the-file"


def test_an_unset_credential_variable_says_what_to_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EESSI_TEST_FR_SECRET", raising=False)
    err = error_of(broken(credential=None, credential_env="EESSI_TEST_FR_SECRET"))
    assert "EESSI_TEST_FR_SECRET is not set" in err.message
    assert (err.hint or "").startswith("export EESSI_TEST_FR_SECRET=")


@pytest.mark.parametrize(
    "changes", [{"credential": None}, {"credential_env": "EESSI_TEST_FR_SECRET"}]
)
def test_exactly_one_credential_source(changes: dict[str, Any]) -> None:
    err = error_of(broken(**changes))
    assert "exactly one of credential and credential_env" in err.message
