"""The shipped pricing table, overrides, and the cost of a usage."""

from __future__ import annotations

import pytest
import yaml

from modelrail.context import Usage
from modelrail.usage.config import Price, PricingSettings
from modelrail.usage.pricing import FREE, PRICING_FILE, DeploymentRef, Pricing, Rate, load_table, lookup, to_nano


def test_table_covers_four_providers_with_sources():
    raw = yaml.safe_load(PRICING_FILE.read_text())
    models = raw["models"]
    for prefix in ("gpt-", "claude-", "gemini-", "mistral-"):
        assert any(name.startswith(prefix) for name in models), prefix
    for name, entry in models.items():
        assert entry["input"] >= 0 and entry["output"] >= 0, name
        assert entry["source"].startswith("https://"), name
        assert str(entry["date"]), name


def test_lookup_matches_dated_and_prefixed_ids():
    table = load_table()
    assert lookup(table, "gpt-4o-2024-08-06") == table["gpt-4o"]
    assert lookup(table, "gpt-4o-mini-2024-07-18") == table["gpt-4o-mini"]
    assert lookup(table, "openai/gpt-4.1") == table["gpt-4.1"]
    assert lookup(table, "claude-sonnet-4-5-20250929") == table["claude-sonnet-4-5"]
    assert lookup(table, "no-such-model") is None


def test_cost_counts_cached_input_at_its_price():
    rate = Rate.per_million(Price(input=2.5, output=10.0, cached_input=1.25))
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=100_000, cached_tokens=400_000)
    assert rate.cost(usage) == pytest.approx(0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)
    # Without a cached price, cached tokens bill as input.
    plain = Rate.per_million(Price(input=1.0, output=1.0))
    assert plain.cost(Usage(100, 0, 50)) == pytest.approx(100 / 1e6)


def test_overrides_and_free_local_models():
    deps = [
        DeploymentRef("gpt#0", "gpt", "openai", "gpt-4o"),
        DeploymentRef("gpt#1", "gpt", "openai", "gpt-4o-mini"),
        DeploymentRef("local#0", "local", "local", "qwen"),
        DeploymentRef("priced-local#0", "priced-local", "local", "qwen"),
        DeploymentRef("custom#0", "custom", "openai", "my-finetune"),
    ]
    settings = PricingSettings(
        overrides={"priced-local": Price(input=0.1, output=0.2), "gpt#1": Price(input=9, output=9)},
    )
    pricing = Pricing(settings, deps)
    assert pricing.for_deployment("gpt#0", "gpt") == Rate.per_million(load_table()["gpt-4o"])
    assert pricing.for_deployment("gpt#1", "gpt") == Rate.per_million(Price(input=9, output=9))
    # The worst case of an alias is its dearest deployment.
    assert pricing.for_alias("gpt") == Rate.per_million(Price(input=9, output=9))
    assert pricing.for_deployment("local#0", "local") is FREE
    assert pricing.for_deployment("priced-local#0", "priced-local").output == pytest.approx(0.2 / 1e6)
    assert pricing.for_deployment("custom#0", "custom") is FREE
    assert to_nano(0.5) == 500_000_000
