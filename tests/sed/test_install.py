"""A regular (non-editable) install finds the schemas: they ship in the wheel as eessi/_schemas.

Builds the wheel from this checkout, installs it into a temporary directory and validates a
document from a process whose working directory is elsewhere, so the checkout's ``schemas/``
cannot be what it finds (decision D1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "valid" / "S071-4.4-family-member.xml"

CHILD = """
import sys
from pathlib import Path
import eessi
from eessi.sed.schemas import schema_dir
from eessi.sed.validate import validate
target = Path(sys.argv[1]).resolve()
assert Path(eessi.__file__).resolve().is_relative_to(target), eessi.__file__
found = schema_dir()
assert found == target / "eessi" / "_schemas", found
report = validate(Path(sys.argv[2]).read_bytes())
print(found, report.sed, report.version, report.ok)
"""


def _pip_available() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.slow
def test_installed_wheel_ships_and_finds_the_schemas(tmp_path: Path) -> None:
    if not _pip_available():
        pytest.skip("pip is not available in this environment")
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("eessi_sim-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "eessi/_schemas/4.4/S071.xsd" in names
    assert "eessi/_schemas/4.3/common.xsd" in names

    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(target), str(SAMPLE)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == [str(target / "eessi" / "_schemas"), "S071", "4.4", "True"]
