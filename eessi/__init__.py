"""eessi-sim: a simulator of the EU's EESSI network, centred on Luxembourg's CNS."""

from __future__ import annotations

from eessi.errors import EessiError

__all__ = ["EessiError", "__version__"]

__version__ = "0.1.0"
