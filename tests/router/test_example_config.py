"""The annotated routing example stays a valid config."""

from __future__ import annotations

from pathlib import Path

from modelrail.app import build_deployments
from modelrail.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"


def test_routing_example_validates_and_builds():
    settings = load_settings(EXAMPLE, env={})
    table, _ = build_deployments(settings)
    assert len(table["gpt-4o"]) == 2
    assert settings.router.fallbacks["gpt-4o"] == ["gpt-4o-mini", "local"]
    assert settings.router.auto is not None and settings.router.auto.premium == "gpt-4o"
    assert table["gpt-4o"][1].cost == 12.5
