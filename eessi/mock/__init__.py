"""Mock foreign funds (layer 6): profiles, scriptable behaviours, journal queries.

* :mod:`~eessi.mock.behaviour`: rules (match → effect) and their deterministic evaluation;
* :mod:`~eessi.mock.profiles`: the TOML profiles of ``mock_institutions/``;
* :mod:`~eessi.mock.journal_query`: namespace-aware XPath over what a mock received.

User guide: ``docs/mock-behaviours.md``.
"""

from __future__ import annotations
