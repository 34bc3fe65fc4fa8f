"""Data-driven: every sample in ``tests/data`` has its expected outcome in ``manifest.toml``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from eessi.sed.schemas import SchemaSet
from eessi.sed.validate import validate

DATA = Path(__file__).resolve().parents[1] / "data"
MANIFEST: list[dict[str, Any]] = tomllib.loads((DATA / "manifest.toml").read_text())["sample"]


def _id(entry: dict[str, Any]) -> str:
    return str(entry["file"])


def test_manifest_lists_every_sample_once() -> None:
    listed = [entry["file"] for entry in MANIFEST]
    on_disk = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.xml"))
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("entry", MANIFEST, ids=_id)
def test_sample_validates_as_the_manifest_says(entry: dict[str, Any]) -> None:
    report = validate((DATA / entry["file"]).read_bytes())
    assert report.ok is entry["ok"], report.errors
    if "sed" in entry:
        assert (report.sed, report.version) == (entry["sed"], entry["version"])
    if entry["ok"]:
        assert report.errors == ()
        return
    first = report.errors[0]
    assert first.code == entry["error"]
    assert first.message  # every refusal says why
    if "xpath" in entry:
        assert first.xpath == entry["xpath"]
    if "line" in entry:
        assert first.line == entry["line"]


def test_invalid_samples_cover_each_refusal_code() -> None:
    codes = {entry.get("error") for entry in MANIFEST if not entry["ok"]}
    assert codes == {
        "sed.schema-violation",
        "sed.wrong-namespace",
        "sed.unknown-type",
        "sed.unsupported-version",
        "sed.not-xml",
        "sed.hostile",
        "sed.too-deep",
    }


def _official() -> SchemaSet:
    env = os.environ.get("EESSI_OFFICIAL_SCHEMAS")
    path = Path(env) if env else DATA.parents[2] / "shared" / "cdm-4.4"
    if not (path / "S071-4.4.xsd").is_file():
        pytest.skip(f"official CDM 4.4 schemas not found at {path} (set EESSI_OFFICIAL_SCHEMAS)")
    return SchemaSet(path)


@pytest.mark.parametrize(
    "entry",
    [e for e in MANIFEST if e.get("sed") in ("S071", "S041") and e.get("version") == "4.4"],
    ids=_id,
)
def test_official_schemas_agree_on_S071_and_S041_samples(entry: dict[str, Any]) -> None:
    report = validate((DATA / entry["file"]).read_bytes(), schemas=_official())
    assert report.ok is entry["ok"], report.errors
    if not entry["ok"] and "xpath" in entry:
        assert report.errors[0].xpath == entry["xpath"]
