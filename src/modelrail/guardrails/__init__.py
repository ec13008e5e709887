"""Checks on what a request carries before it goes upstream."""

from modelrail.guardrails.inputs import InputGuard, InputSettings

__all__ = ["InputGuard", "InputSettings"]
