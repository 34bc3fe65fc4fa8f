"""The node tests' kit: directories whose institutions never share a port."""

from __future__ import annotations

from pathlib import Path

from node_kit import free_ports, write_directory

from eessi.directory import load_directory


def test_free_ports_are_distinct_even_when_many_are_asked_at_once() -> None:
    ports = free_ports(64)
    assert len(set(ports)) == 64


def test_every_institution_of_a_written_directory_has_its_own_port(tmp_path: Path) -> None:
    for i in range(20):
        where = tmp_path / str(i)
        where.mkdir()
        directory = load_directory(write_directory(where))
        endpoints = [e.endpoint for e in directory if e.endpoint]
        assert len(endpoints) >= 5
        assert len(set(endpoints)) == len(endpoints)
