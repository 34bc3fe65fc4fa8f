"""Scenarios (issue 5): seed situations played on the embedded network and checked.

* :mod:`~eessi.scenario.format`: the TOML format and its loader (``docs/scenario-format.md``);
  the shipped scenarios are package data in ``eessi/scenario/data/``;
* :mod:`~eessi.scenario.world`: the CNS and mock funds on free loopback ports, one virtual
  clock (also behind the pytest plugin and the demo);
* :mod:`~eessi.scenario.runner`: plays the steps, checks the expectations;
* :mod:`~eessi.scenario.report`: the ITB-style report, as text or JSON.
"""

from __future__ import annotations
