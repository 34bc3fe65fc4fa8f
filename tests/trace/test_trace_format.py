from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from trace_builders import CNS, header, messages, r17_records

from eessi.trace.format import (
    FORMAT,
    TOOL,
    TraceError,
    TraceMessage,
    read_trace,
    write_trace,
)


def _written(tmp_path: Path, name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    write_trace(path, header(), messages(r17_records()))
    return path


def test_round_trip_keeps_every_record_and_the_raw_bytes_exactly(tmp_path: Path) -> None:
    records = r17_records()
    odd = replace(records[0], payload=b"\xef\xbb\xbf<S071>\r\n\x00\xff</S071>", envelope=b"\x80")
    original = messages([odd, *records[1:]])
    path = tmp_path / "t.jsonl"
    assert write_trace(path, header(), original) == 6
    trace = read_trace(path)
    assert trace.messages == tuple(original)
    assert trace.messages[0].record.payload == b"\xef\xbb\xbf<S071>\r\n\x00\xff</S071>"
    assert trace.header.format == FORMAT == "eessi-trace/1"
    assert trace.header.tool == TOOL
    assert trace.header.config == {"seed": 7}


def test_header_directory_replays_without_the_real_credentials(tmp_path: Path) -> None:
    trace = read_trace(_written(tmp_path))
    directory = trace.header.load_directory()
    assert CNS in directory
    text = (tmp_path / "t.jsonl").read_text()
    from eessi.directory import load_default_directory

    for entry in load_default_directory():
        assert entry.credential not in text
        assert directory.get(entry.id).credential != entry.credential


def test_same_trace_gives_the_same_bytes_plain_and_gzip(tmp_path: Path) -> None:
    a, b = _written(tmp_path, "a.jsonl"), _written(tmp_path, "b.jsonl")
    assert a.read_bytes() == b.read_bytes()
    ga, gb = _written(tmp_path, "a.jsonl.gz"), _written(tmp_path, "b.jsonl.gz")
    assert ga.read_bytes() == gb.read_bytes()
    assert gzip.decompress(ga.read_bytes()) == a.read_bytes()
    assert read_trace(ga).messages == read_trace(a).messages


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_truncated_trace_is_refused_with_the_line_after_the_last_complete_one(
    tmp_path: Path,
) -> None:
    path = _written(tmp_path)
    path.write_bytes(b"".join(_lines(path)[:4]))
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.code == "trace.truncated"
    assert err.value.where == f"{path}:5"


def test_line_cut_in_the_middle_is_refused_at_that_line(tmp_path: Path) -> None:
    path = _written(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(b"".join(_lines(path)[:3])) + 50])
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.code == "trace.truncated"
    assert err.value.where == f"{path}:4"


def test_a_changed_byte_is_found_at_its_line(tmp_path: Path) -> None:
    path = _written(tmp_path)
    lines = _lines(path)
    lines[3] = lines[3].replace(b"<value>01</value>", b"<value>02</value>", 1)
    path.write_bytes(b"".join(lines))
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.code == "trace.corrupt"
    assert err.value.where == f"{path}:4"
    assert "checksum" in err.value.message


def test_a_removed_or_swapped_line_is_found_where_the_order_breaks(tmp_path: Path) -> None:
    path = _written(tmp_path)
    lines = _lines(path)
    path.write_bytes(b"".join([lines[0], lines[1], lines[3], lines[2], *lines[4:]]))
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.where == f"{path}:3"
    path.write_bytes(b"".join([*lines[:2], *lines[3:]]))
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.where == f"{path}:3"


def test_damaged_gzip_is_refused(tmp_path: Path) -> None:
    path = _written(tmp_path, "t.jsonl.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.code in ("trace.truncated", "trace.corrupt")
    assert err.value.details["line"] >= 1


def test_newer_format_is_refused_with_an_upgrade_hint(tmp_path: Path) -> None:
    path = _written(tmp_path)
    lines = _lines(path)
    lines[0] = lines[0].replace(b'"eessi-trace/1"', b'"eessi-trace/2"')
    path.write_bytes(b"".join(lines))
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.code == "trace.version"
    assert "newer" in (err.value.hint or "")


def test_a_file_that_is_not_a_trace_is_refused_at_line_1(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.where == f"{path}:1"
    path.write_bytes(b"")
    with pytest.raises(TraceError, match="empty"):
        read_trace(path)
    with pytest.raises(TraceError) as missing:
        read_trace(tmp_path / "nope.jsonl")
    assert missing.value.code == "trace.missing"


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    good = messages(r17_records())

    def failing() -> Iterator[TraceMessage]:
        yield good[0]
        raise RuntimeError("disk on fire")

    target = tmp_path / "t.jsonl"
    with pytest.raises(RuntimeError):
        write_trace(target, header(), failing())
    assert list(tmp_path.iterdir()) == []


def test_overwriting_is_atomic_the_old_trace_stays_until_the_new_one_is_complete(
    tmp_path: Path,
) -> None:
    path = _written(tmp_path)
    before = path.read_bytes()

    def failing() -> Iterator[TraceMessage]:
        raise RuntimeError("stop")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError):
        write_trace(path, header(), failing())
    assert path.read_bytes() == before


def test_unwritable_directory_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as err:
        write_trace(tmp_path / "missing" / "t.jsonl", header(), [])
    assert err.value.code == "trace.unwritable"


def test_input_log_entries_round_trip_and_are_counted_by_the_end_line(tmp_path: Path) -> None:
    from trace_builders import T0

    from eessi.trace.format import TraceInput

    entry = TraceInput(
        "FR:CPAM5701",
        1,
        T0,
        {"kind": "input", "input": {"type": "RequestEntitlement", "person": "h/m"}, "ids": []},
    )
    path = tmp_path / "t.jsonl"
    write_trace(path, header(), messages(r17_records()), inputs=[entry])
    trace = read_trace(path)
    assert trace.inputs == (entry,)
    assert len(trace.messages) == 6
    lines = _lines(path)
    assert lines[1].startswith(b'{"type":"input"')
    assert b'"inputs":1' in lines[-1]
