"""The difficulty router: its choice on a labelled set of prompts, and its header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelrail.router.config import AutoSettings
from modelrail.router.difficulty import DifficultyRouter
from tests.conftest import AUTH, running
from tests.router.helpers import build, fake

FIXTURE = Path(__file__).parent / "fixtures" / "difficulty_prompts.yaml"
# The share of the labelled prompts the default rules must route as labelled.
MIN_ACCURACY = 0.85


def labelled() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load(FIXTURE.read_text())
    return data


def accuracy(router: DifficultyRouter) -> tuple[float, list[str]]:
    cases = labelled()
    wrong = []
    for case in cases:
        body = {k: v for k, v in case.items() if k != "label"}
        choice = router.choose(body)
        if choice.tier != case["label"]:
            wrong.append(f"{case['label']}: {body['messages'][-1]['content'][:60]!r} ({choice.reason})")
    return 1 - len(wrong) / len(cases), wrong


def test_fixture_is_balanced_and_big_enough():
    labels = [c["label"] for c in labelled()]
    assert len(labels) == 40
    assert labels.count("cheap") == labels.count("premium") == 20


def test_default_rules_route_the_labelled_prompts(capsys):
    router = DifficultyRouter(AutoSettings(cheap="small", premium="large"))
    acc, wrong = accuracy(router)
    with capsys.disabled():
        print(f"\ndifficulty router accuracy on {len(labelled())} labelled prompts: {acc:.1%}")
        for line in wrong:
            print("  misrouted", line)
    assert acc >= MIN_ACCURACY, wrong


def test_rules_and_threshold_come_from_config():
    cfg = AutoSettings(
        cheap="small",
        premium="large",
        threshold=1,
        rules=[{"kind": "keywords", "words": ["urgent"], "points": 1}],  # type: ignore[list-item]
    )
    router = DifficultyRouter(cfg)
    assert router.choose({"messages": [{"role": "user", "content": "URGENT: hi"}]}).alias == "large"
    easy = router.choose({"messages": [{"role": "user", "content": "hi"}]})
    assert easy.alias == "small" and easy.reason.startswith("cheap: score 0 < 1")


async def test_auto_model_routes_and_explains_itself():
    app = build(
        [fake("small", reply="small model"), fake("large", reply="large model")],
        auto={"name": "auto", "cheap": "small", "premium": "large"},
    )
    async with running(app) as client:
        models = (await client.get("/v1/models", headers=AUTH)).json()["data"]
        assert "auto" in [m["id"] for m in models]
        easy = await client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}]},
            headers=AUTH,
        )
        hard = await client.post(
            "/v1/chat/completions",
            json={
                "model": "auto",
                "stream": True,
                "messages": [{"role": "user", "content": "Prove that sqrt(2) is irrational, step by step."}],
            },
            headers=AUTH,
        )
    assert easy.status_code == 200
    assert easy.json()["choices"][0]["message"]["content"] == "small model"
    assert easy.headers["x-modelrail-route"] == "small"
    assert easy.headers["x-modelrail-route-reason"].startswith("cheap:")
    assert hard.status_code == 200
    assert hard.headers["x-modelrail-route"] == "large"
    assert hard.headers["x-modelrail-deployment"] == "large#0"
    assert "keywords:" in hard.headers["x-modelrail-route-reason"]
