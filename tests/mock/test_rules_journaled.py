"""Rules set over the admin API survive a restart of the node on the same journal, and the
listing says where each came from (issue 12.4): in process (a new controller, as in a new
process) and with a real ``eessi serve`` process stopped and started again."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from serve_process import call, eessi_serve_process

from eessi.journal import open_journal
from eessi.mock.behaviour import Behaviours, parse_rule
from eessi.mock.rules_log import RULES_LOG, journal_change, replay
from eessi.node.inputs import RequestEntitlement

from .kit import ANA, CNS, FR, PT, START, World, world, write_directory

SILENT_ANA = {"id": "quiet-ana", "match": {"person": ANA, "sed": "S072"}, "effect": "silent"}


def mock_api(w: World, fund: str, path: str) -> str:
    return f"{w[fund].url}/api/mock{path}"


async def test_a_rule_set_over_the_api_still_applies_after_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with world(tmp_path, (CNS, PT)) as w:
        status, _ = await call(http, "POST", mock_api(w, PT, "/rules"), SILENT_ANA)
        assert status == 201
        await w.restart(PT, fresh_mocks=True)  # nothing kept in memory
        status, listed = await call(http, "GET", mock_api(w, PT, "/rules"))
        assert listed["rules"] == [
            {**SILENT_ANA, "effect": {"kind": "silent"}, "origin": "api",
             "added_at": START.isoformat()}
        ]  # fmt: skip
        case = (await w[PT].submit(RequestEntitlement(ANA))).outgoing[0].case_id
        await w.settle()
        assert await w.summary(CNS, case) == [
            ("in", "S071", "processed"),
            ("out", "S072", "acknowledged"),
        ]


async def test_removals_and_resets_are_journaled_too(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with world(tmp_path, (CNS, PT)) as w:
        rules = [
            {"match": {"sed": "S072"}, "effect": "close"},
            {"match": {"case": "PT-1"}, "effect": "silent"},
            {"match": {"counterparty": CNS}, "effect": {"kind": "delay", "seconds": 5}},
        ]
        status, added = await call(http, "POST", mock_api(w, PT, "/rules"), {"rules": rules})
        ids = [r["id"] for r in added["added"]]
        await call(http, "DELETE", mock_api(w, PT, f"/rules/{ids[0]}"))
        await call(http, "DELETE", mock_api(w, PT, "/cases/PT-1"))
        await w.restart(PT, fresh_mocks=True)
        status, listed = await call(http, "GET", mock_api(w, PT, "/rules"))
        assert [r["id"] for r in listed["rules"]] == [ids[2]]
        # A new rule after the restart gets a new ID: it does not replace a restored one.
        status, more = await call(http, "POST", mock_api(w, PT, "/rules"), rules[0])
        assert more["added"][0]["id"] not in ids
        status, _ = await call(http, "POST", mock_api(w, PT, "/reset"), {})
        assert status == 200
        await w.restart(PT, fresh_mocks=True)
        status, listed = await call(http, "GET", mock_api(w, PT, "/rules"))
        assert listed["rules"] == []  # back to the profile's (none), after the restart too


async def test_a_reset_replayed_restores_the_profiles_own_rules(tmp_path: Path) -> None:
    profile_rule = parse_rule({"id": "p", "match": {"sed": "S040"}, "effect": "silent"},
                              origin="profile")  # fmt: skip
    later = parse_rule({"id": "later", "match": {"sed": "S073"}, "effect": "close"})
    journal = await open_journal(tmp_path / "fund.sqlite")
    try:
        dropped = parse_rule({"id": "dropped", "match": {}, "effect": "close"})
        await journal_change(
            journal,
            [
                ("rule-added", {"rule": dropped.to_dict()}),
                ("reset", {"case": None}),
                ("rule-added", {"rule": later.to_dict()}),
            ],
            at=START,
        )
        book = Behaviours(FR, [profile_rule])
        assert await replay(journal, book) == 3
        assert [(r.id, r.origin) for r in book.rules] == [("p", "profile"), ("later", "api")]
        assert [e.kind for e in await journal.case_events(RULES_LOG)] == [
            "rule-added",
            "reset",
            "rule-added",
        ]
    finally:
        await journal.close()


# ---- a real `eessi serve` process


async def test_rules_survive_a_restart_of_eessi_serve_on_the_same_journal(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    directory, db = write_directory(tmp_path), tmp_path / "fr.sqlite"
    async with eessi_serve_process(directory, FR, db) as url:
        rule = {"id": "slow", "match": {"sed": "S072"}, "effect": {"kind": "delay", "seconds": 60}}
        status, added = await call(http, "POST", f"{url}/api/mock/rules", rule)
        assert status == 201, added
    async with eessi_serve_process(directory, FR, db) as url:
        status, listed = await call(http, "GET", f"{url}/api/mock/rules")
        assert status == 200
        assert listed["rules"] == added["added"]
        assert listed["rules"][0]["origin"] == "api"
        assert listed["rules"][0]["added_at"] is not None
        status, _ = await call(http, "POST", f"{url}/api/mock/reset", {})
        assert status == 200
    async with eessi_serve_process(directory, FR, db) as url:
        status, listed = await call(http, "GET", f"{url}/api/mock/rules")
        assert listed["rules"] == []
