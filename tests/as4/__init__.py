"""Tests of eessi.as4."""

from __future__ import annotations
