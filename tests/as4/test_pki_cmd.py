"""``eessi pki init``: a CA and a key + certificate per institution, found through the P-Modes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from eessi.as4.exchange import build_sed_message, receive_user_message
from eessi.as4.mapping import Addressing
from eessi.as4.pki import load_pki
from eessi.as4.pmode import default_pmodes_path, load_pmodes
from eessi.as4.security import common_name
from eessi.cli import main
from eessi.directory import default_directory_path
from eessi.sed.examples import example_xml


def _network(tmp_path: Path) -> Path:
    """A network folder: the shipped directory and P-Modes, the P-Modes naming pki = "pki"."""
    net = tmp_path / "net"
    net.mkdir()
    (net / "directory.toml").write_bytes(default_directory_path().read_bytes())
    text = default_pmodes_path().read_text("utf-8")
    (net / "pmodes.toml").write_text(text.replace("format = 1\n", 'format = 1\npki = "pki"\n', 1))
    return net


def test_pki_init_writes_keys_the_pmodes_find_and_a_secured_exchange_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = _network(tmp_path)
    code = main(["pki", "init", str(net / "pki"), "--directory", str(net / "directory.toml")])
    assert code == 0
    out = capsys.readouterr().out
    assert "5 institution certificates" in out  # RS:RFZO0001 is outside EESSI
    assert "LU:CNS00001: LU-CNS00001.key, LU-CNS00001.crt" in out
    pmodes = load_pmodes(net / "pmodes.toml")
    assert pmodes.pki == net / "pki"
    pki = load_pki(pmodes.pki)
    assert common_name(pki.certificate("FR:CPAM5701")) == "FR:CPAM5701"
    now = dt.datetime.now(dt.UTC)
    sed = example_xml("S071", seed=2)
    sent = build_sed_message(
        Addressing("FR:CPAM5701", "LU:CNS00001", "FR-0011AABB2233", "S_BUC_01", "S071", "4.4"),
        pmodes.find("S_BUC_01", "S071"),
        sed,
        message_id="m-9@eessi-sim",
        timestamp=now,
        content_id="sed-9@eessi-sim",
        credentials=pki.credentials("FR:CPAM5701"),
        recipient=pki.certificate("LU:CNS00001"),
    )
    got = receive_user_message(
        sent.packaged.content_type,
        sent.packaged.body,
        pmodes=pmodes,
        receiver="LU:CNS00001",
        credentials=pki.credentials("LU:CNS00001"),
        trust=pki.trust,
        now=now,
    )
    assert got.delivered.payload == sed


def test_pki_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "pki"
    assert main(["pki", "init", str(target), "--days", "2"]) == 0
    first = (target / "ca.crt").read_bytes()
    assert main(["pki", "init", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (target / "ca.crt").read_bytes() == first
    assert main(["pki", "init", str(target), "--force", "--days", "2"]) == 0
    assert (target / "ca.crt").read_bytes() != first


def test_a_missing_pki_is_a_clear_error(tmp_path: Path) -> None:
    from eessi.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_pki(tmp_path / "nowhere")
    assert "pki.toml" in str(info.value.where)
    assert info.value.hint is not None
    assert "eessi pki init" in info.value.hint
