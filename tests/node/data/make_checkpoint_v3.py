"""How ``checkpoint_v3.sqlite.gz`` was made (not a test; kept to say what the fixture holds).

Run with the previous build on the path (eessi-sim at c2a2e52, the last to write checkpoints
of format ``eessi-checkpoint/3``): ``PYTHONPATH=<that tree>:<that tree>/tests/node python
tests/node/data/make_checkpoint_v3.py OUT.sqlite.gz``. The CNS's journal of: 8 R17 cases
from FR completed and one case from PT left open, a clean stop (its checkpoint, every table
one row per entry), then 3 more R17 cases and a stop without checkpoint (a tail of 6 inputs,
as a crash leaves). Households: ``households(HOUSEHOLDS)`` below, as
``test_checkpoint_upgrade.py`` makes them.
"""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from node_kit import ANA, CNS, FR, PT, write_directory

from eessi.core.fund import FundPolicy
from eessi.core.household import Household
from eessi.core.household_json import parse_household
from eessi.directory import load_directory
from eessi.node.households import load_households
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import Network, journal_file_name
from eessi.transport.client import RetryPolicy

HOUSEHOLDS = 11


def households(n: int) -> list[Household]:
    """The shipped households and ``n`` more: main insured in LU, spouse in France (R17)."""
    made = []
    for i in range(n):
        made.append(
            parse_household(
                {
                    "format": "eessi-household/1",
                    "id": f"upgrade-{i:03d}",
                    "main_insured": [
                        {
                            "id": "main",
                            "pin": f"19800101{i:05d}",
                            "name": f"Paul Upgrade{i}",
                            "date_of_birth": "1980-01-01",
                            "affiliated_since": "2020-01-01",
                        }
                    ],
                    "members": [
                        {
                            "id": "spouse",
                            "name": f"Claire Upgrade{i}",
                            "relation": "spouse",
                            "date_of_birth": "1982-06-15",
                            "relation_since": "2010-05-01",
                            "country_of_residence": "FR",
                            "rnpp_registered": True,
                        }
                    ],
                }
            ).household
        )
    return list(load_households(None)) + made


async def run(where: Path) -> Path:
    directory = load_directory(write_directory(where))
    people = households(HOUSEHOLDS)
    options = NodeOptions(retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2))

    def network(seed: int, every: int | None) -> Network:
        return Network(
            directory,
            where,
            ids=[CNS, FR, PT],
            seed=seed,
            options=replace(options, checkpoint_every=every),
            synchronous="FULL",
            households=people,
            fund_policies={PT: FundPolicy(auto_register=False)},
        )

    async with network(1, 5) as net:
        for i in range(8):
            await net[FR].submit(RequestEntitlement(f"upgrade-{i:03d}/spouse"))
        await net[PT].submit(RequestEntitlement(ANA))
        await net.idle()
    async with network(2, 0) as net:
        for i in range(8, 11):
            await net[FR].submit(RequestEntitlement(f"upgrade-{i:03d}/spouse"))
        await net.idle()
    return where / journal_file_name(CNS)


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = asyncio.run(run(Path(tmp)))
        packed = Path(tmp) / "packed.sqlite"
        with sqlite3.connect(db) as conn:
            conn.execute("VACUUM INTO ?", (str(packed),))
        out.write_bytes(gzip.compress(packed.read_bytes(), mtime=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
