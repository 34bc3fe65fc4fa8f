"""A checkpoint stores a case's documents as the packed blob the desk keeps them in (D425): a
restart in another process, which met the model's classes in another order, reads them equal
to the documents the writing node held, and nothing is decoded before an input reads it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from node_kit import CNS, write_directory
from test_checkpoint import network, people, restored_in_child, run_requests

from eessi.core.compact import CompactDocuments
from eessi.directory import load_directory
from eessi.node.network import journal_file_name

# A fresh process: classes registered in another order than the writer's (X001, S073, S071
# first), then the CNS's checkpoint restored and every case's documents printed as digests.
SHOW = """
def show(state):
    for case_id in sorted(state.cases):
        documents = state.cases[case_id].documents
        for doc_id in sorted(documents):
            digest = hashlib.sha256(documents[doc_id].to_xml()).hexdigest()
            print(case_id, doc_id, type(documents).__name__, digest)
"""


async def test_a_restart_in_another_process_reads_each_cases_packed_documents_equal(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    households = people(6)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(6)])
        live = net[CNS].desk.snapshot()
    # the stop wrote the checkpoint; what the node held, each document as its XML
    expected = []
    packed = 0
    for case_id in sorted(live.cases):
        documents = live.cases[case_id].documents
        packed += type(documents) is CompactDocuments
        for doc_id in sorted(documents):
            digest = hashlib.sha256(documents[doc_id].to_xml()).hexdigest()
            expected.append(f"{case_id} {doc_id} CompactDocuments {digest}")
    assert packed == len(live.cases) == 6
    assert len(expected) >= 12  # each case's S071 and S072 at least
    assert await restored_in_child(SHOW, tmp_path / journal_file_name(CNS), CNS) == expected


def test_every_class_of_the_fingerprinted_model_has_a_tag_of_its_own_from_its_name() -> None:
    """The classes a case's documents can name (every slotted dataclass and enum of the
    model, D185) register without two sharing a tag, and a tag is the same in a process that
    registers them in the opposite order (D425)."""
    import dataclasses
    import importlib
    from enum import Enum

    from eessi.core import compact
    from eessi.node.checkpoint import model_modules

    classes = sorted(
        (
            obj
            for name in model_modules()
            for obj in vars(importlib.import_module(name)).values()
            if isinstance(obj, type)
            and obj.__module__ == name
            and (
                issubclass(obj, Enum)
                or (dataclasses.is_dataclass(obj) and "__slots__" in obj.__dict__)
            )
        ),
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )
    assert len(classes) > 100
    tags = {f"{cls.__module__}.{cls.__qualname__}": compact.register(cls) for cls in classes}
    assert len(set(tags.values())) == len(tags)
    child = (
        "import importlib, sys\n"
        "from eessi.core import compact\n"
        "for name in reversed(sys.argv[1:]):\n"
        "    module, _, qualname = name.rpartition('.')\n"
        "    cls = getattr(importlib.import_module(module), qualname)\n"
        "    print(name, compact.register(cls))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, *tags], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    again = dict(line.split(" ") for line in out.stdout.splitlines())
    assert {name: int(tag) for name, tag in again.items()} == tags


async def test_a_class_made_in_a_function_and_met_by_compact_does_not_spoil_the_checkpoint(
    tmp_path: Path,
) -> None:
    """The header lists the classes compact registered that a restore can import: one made in
    a function (never in a case) is left out, and the restart still reads the checkpoint."""
    import dataclasses

    from eessi.core import compact

    @dataclasses.dataclass(frozen=True, slots=True)
    class Local:
        text: str

    assert compact.decode(compact.encode(Local("x"))) == Local("x")
    directory = load_directory(write_directory(tmp_path))
    households = people(2)
    async with network(tmp_path, directory, households, every=None) as net:
        await run_requests(net, [f"ckpt-{i:03d}/spouse" for i in range(2)])
        live = net[CNS].desk.snapshot()
    async with network(tmp_path, directory, households, every=0) as net:
        assert net[CNS].stats["replayed"] == 0  # the stop's checkpoint was read
        assert net[CNS].desk.snapshot() == live
