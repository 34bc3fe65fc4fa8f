from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eessi.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
VALID = DATA / "valid" / "S071-4.4-family-member.xml"
S072_43 = DATA / "valid" / "S072-4.3-family-member.xml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_file_prints_ok_with_type_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([str(VALID)], capsys)
    assert code == 0
    assert out.splitlines() == [f"OK {VALID} S071 4.4", "1 document(s): 1 valid, 0 invalid"]


def test_schema_violation_prints_path_line_code_message_and_xpath(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = DATA / "invalid" / "S071-wrong-sex-code.xml"
    code, out, _ = run([str(bad)], capsys)
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{bad}:9:9: sed.schema-violation: ")  # line 9, column 9
    assert first.endswith("(/sed:S071/Person/PersonIdentification/sex/value)")
    assert "'03'" in first


def test_directory_is_searched_recursively_and_each_problem_has_its_own_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run([str(DATA)], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert lines[-1] == "18 document(s): 4 valid, 14 invalid"
    by_file = {line.split(":", 1)[0].split(" ")[-1]: line for line in lines[:-1]}
    expected = {
        "empty.xml": "sed.not-xml: document is empty",
        "not-xml.xml": "sed.not-xml: not well-formed XML",
        "S999-unknown-sed.xml": "sed.unknown-type:",
        "S071-unsupported-version-3_9.xml": "supports S071 in version 4.3, 4.4 only",
        "S071-wrong-namespace.xml": "sed.wrong-namespace:",
        "billion-laughs.xml": "sed.hostile: document has a DOCTYPE",
        "xxe-system-file.xml": "sed.hostile:",
        "deeply-nested.xml": "sed.too-deep:",
    }
    for name, text in expected.items():
        (line,) = [v for k, v in by_file.items() if k.endswith("/" + name)]
        assert text in line


def test_oversized_file_is_refused_with_its_own_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(VALID.read_bytes().replace(b"<Person>", b"<!--" + b"x" * 5000 + b"--><Person>"))
    code, out, _ = run([str(big), "--max-bytes", "4096"], capsys)
    assert code == 1
    assert "sed.too-large: document is" in out
    assert "limit of 4096" in out


def test_json_output_lists_reports_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    bad = DATA / "invalid" / "S999-unknown-sed.xml"
    code, out, _ = run(["--json", str(VALID), str(bad)], capsys)
    assert code == 1
    doc = json.loads(out)
    assert doc["summary"] == {"documents": 2, "valid": 1, "invalid": 1, "io_errors": 0}
    ok, ko = doc["reports"]
    assert ok == {"path": str(VALID), "sed": "S071", "version": "4.4", "ok": True, "errors": []}
    assert ko["errors"][0]["code"] == "sed.unknown-type"


def test_accept_version_refuses_other_versions_and_names_the_supported_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["--accept-version", "4.4", str(S072_43)], capsys)
    assert code == 1
    assert "S072 version 4.3 is not supported" in out
    assert "supports S072 in version 4.4 only" in out


def test_missing_file_is_an_io_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([str(VALID), "no-such-file.xml"], capsys)
    assert code == 2
    assert "no-such-file.xml: no such file" in err
    assert f"OK {VALID}" in out  # the readable ones are still checked


def test_empty_directory_is_an_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([str(tmp_path)], capsys)
    assert code == 2
    assert "holds no *.xml file" in err


def test_unknown_schema_directory_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--schemas", "/no/such/dir", str(VALID)], capsys)
    assert code == 2
    assert "schema directory '/no/such/dir' does not exist" in err


def test_official_schema_directory_can_be_used(capsys: pytest.CaptureFixture[str]) -> None:
    env = os.environ.get("EESSI_OFFICIAL_SCHEMAS")
    official = Path(env) if env else ROOT.parent / "shared" / "cdm-4.4"
    if not official.is_dir():
        pytest.skip(f"official CDM 4.4 schemas not found at {official}")
    code, out, _ = run(["--schemas", str(official), str(VALID), str(S072_43)], capsys)
    assert code == 1
    assert f"OK {VALID} S071 4.4" in out
    assert "S072 is not supported: no schema for it" in out


def test_stdin_is_read_with_dash() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eessi", "validate", "-"],
        input=VALID.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("OK <stdin> S071 4.4")


def test_huge_file_is_refused_with_its_true_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.xml"
    huge.write_bytes(b"\0" * 3_000_000)
    code, out, _ = run([str(huge)], capsys)
    assert code == 1
    assert f"{huge}: sed.too-large: document is 3000000 bytes, more than the limit of" in out


def test_huge_stdin_is_refused_with_its_true_size() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eessi", "validate", "--max-bytes", "1000", "-"],
        input=b"<a>" + b" " * 5000 + b"</a>",
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1
    assert b"<stdin>: sed.too-large: document is 5007 bytes" in done.stdout


def test_schema_violation_has_the_column_of_the_offending_element_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = DATA / "invalid" / "S071-bad-institution-id.xml"
    code, out, _ = run([str(bad), "--json"], capsys)
    assert code == 1
    (issue, *_rest) = json.loads(out)["reports"][0]["errors"]
    line = bad.read_text(encoding="utf-8").splitlines()[issue["line"] - 1]
    assert issue["column"] == line.index("<institutionID>") + 1 == 13


def test_schema_violation_on_a_one_line_document_points_at_the_right_element(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Everything on one line: the line says nothing, the column finds the element.
    text = VALID.read_text(encoding="utf-8")
    one_line = "".join(part.strip() for part in text.splitlines())
    sex = "<sex><value>01</value></sex>"
    assert one_line.count(sex) == 1
    assert one_line.count("<value>") > 1  # the wrong one is not the first <value> of the line
    bad = tmp_path / "one-line.xml"
    bad.write_text(one_line.replace(sex, "<sex><value>03</value></sex>"), encoding="utf-8")
    code, out, _ = run([str(bad), "--json"], capsys)
    assert code == 1
    (issue, *_rest) = json.loads(out)["reports"][0]["errors"]
    assert issue["xpath"].endswith("/sex/value")
    assert issue["column"] == one_line.index(sex) + len("<sex>") + 1


def test_negative_max_bytes_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--max-bytes", "-1", str(VALID)])
    assert exit_.value.code == 2
    assert "--max-bytes: -1 bytes: give a size of at least 1 byte" in capsys.readouterr().err


def test_accept_version_without_a_schema_is_a_usage_error_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["--accept-version", "9.9", str(VALID)], capsys)
    assert code == 2
    assert out == ""  # nothing validated against a version no schema has
    assert "--accept-version 9.9: no schema of that version" in err
    assert "4.3, 4.4" in err
