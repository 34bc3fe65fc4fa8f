"""Renderers shared by the CLI and the demo: sequence diagrams (terminal, Mermaid, PlantUML)."""

from __future__ import annotations
