"""Shared counters and small values: one interface, an in-process and a Redis implementation."""

from modelrail.state.base import Check, Denied, StateBackend
from modelrail.state.config import StateSettings

__all__ = ["Check", "Denied", "StateBackend", "StateSettings"]
