"""What a mock sends instead of its desk's answer: still valid where it should be, broken where
it should be broken (checked with the real validator)."""

from __future__ import annotations

import pytest

from eessi.errors import (
    ConfigError,
    SedError,
    SedInvalidError,
    UnsupportedVersionError,
    XmlSyntaxError,
)
from eessi.mock.payloads import (
    closure,
    malformed,
    override,
    refused_answer,
    rejection,
    with_version,
)
from eessi.sed.documents import S041, S072, S073, S041Reply
from eessi.sed.examples import example
from eessi.sed.validate import validate_or_raise

UUID = "0f3c2a1e-8b7d-4c6e-9a5f-1d2e3f4a5b6c"


def test_overrides_convert_codes_text_and_dates_and_stay_valid() -> None:
    s041 = example("S041", seed=1)
    assert isinstance(s041, S041)
    changed = override(s041, {"additional_information": "overridden"})
    assert isinstance(changed, S041)
    assert changed.additional_information == "overridden"
    s073 = example("S073", seed=1)
    changed73 = override(s073, {"registered": False, "registration_date": None})
    assert isinstance(changed73, S073)
    assert changed73.registered is False
    validate_or_raise(changed73.to_xml())
    dated = override(s073, {"registration_date": "2026-03-01"})
    assert isinstance(dated, S073)
    assert str(dated.registration_date) == "2026-03-01"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "red"}, "has no field 'colour'"),
        ({"registered": "maybe"}, "cannot set S073.registered"),
        ({"person": "x"}, "cannot set S073.person"),
    ],
)
def test_a_bad_override_is_a_clear_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        override(example("S073", seed=1), overrides)


def test_a_bad_code_in_an_override_lists_the_codes() -> None:
    with pytest.raises(ConfigError) as info:
        override(example("S041", seed=1), {"reply": "07"})
    assert info.value.hint is not None
    assert "01" in info.value.hint


def test_refused_answers_carry_the_refusal_code_and_are_schema_valid() -> None:
    s041 = refused_answer(example("S041", seed=2), "03")
    assert isinstance(s041, S041)
    assert s041.reply is S041Reply.CANNOT_CONFIRM
    assert s041.insurance_periods == ()
    s072 = refused_answer(example("S072", seed=2), "01")
    assert isinstance(s072, S072)
    assert not s072.confirmed
    s073 = refused_answer(example("S073", seed=2), "01")
    assert isinstance(s073, S073)
    assert not s073.registered
    for doc in (s041, s072, s073):
        validate_or_raise(doc.to_xml())
    assert refused_answer(example("X010", seed=2), "01") is None
    with pytest.raises(ConfigError, match="not a refusal code of S041"):
        refused_answer(example("S041", seed=2), "02x")


def test_rejection_and_closure_are_valid_x_seds() -> None:
    validate_or_raise(rejection("4.4", "S072", UUID, "04").to_xml())
    validate_or_raise(closure("4.3").to_xml())
    with pytest.raises(ConfigError, match="rejection reason"):
        rejection("4.4", "S072", UUID, "42")


def test_another_supported_version_is_a_valid_document_of_that_version() -> None:
    data = with_version(example("S041", seed=3), "4.3")
    assert validate_or_raise(data).version == "4.3"


def test_an_unknown_version_is_refused_as_unsupported_by_the_validator() -> None:
    data = with_version(example("S041", seed=3), "3.9")
    assert b"/ns/3_9/S041" in data
    with pytest.raises(UnsupportedVersionError):
        validate_or_raise(data)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("truncated", XmlSyntaxError),
        ("not-xml", XmlSyntaxError),
        ("schema-invalid", SedInvalidError),
    ],
)
def test_malformed_answers_fail_validation_the_expected_way(
    kind: str, error: type[SedError]
) -> None:
    with pytest.raises(error):
        validate_or_raise(malformed(example("S073", seed=4).to_xml(), kind))
