"""The difficulty router's patterns on hostile inputs: bounded work, whatever the text."""

from __future__ import annotations

import time

import pytest

from modelrail.router.config import AutoSettings
from modelrail.router.difficulty import DifficultyRouter, _scanned

HOSTILE = {
    "one long word": "a" * 200_000,
    "call without a brace": "f(" * 100_000,
    "select without from": "SELECT " * 50_000,
    "semicolons then spaces": ";" * 20_000 + " " * 100_000 + "x",
    "dollars": "$" * 200_000,
    "digits": "1" * 200_000,
    "eight megabytes": "b" * 8_000_000,
}


def router() -> DifficultyRouter:
    return DifficultyRouter(
        AutoSettings.model_validate(
            {
                "name": "auto",
                "cheap": "small",
                "premium": "large",
                "threshold": 1,
                "rules": [{"kind": "code", "points": 1}, {"kind": "math", "points": 1}],
            }
        )
    )


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_text_is_scored_quickly(text: str) -> None:
    auto = router()
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    auto.choose(body)
    # The unbounded patterns took 1.9 s on a 20,000-character word and 28 s on 100,000: a guard
    # against that class of input, far above the few milliseconds the bounded ones take.
    assert time.perf_counter() - started < 0.5


def test_only_the_ends_of_a_long_text_are_scanned() -> None:
    text = "x" * 100_000
    scanned = _scanned(text)
    assert len(scanned) < 5_000
    assert _scanned("short text") == "short text"


def test_code_and_math_still_found_at_either_end() -> None:
    auto = router()
    filler = "plain words " * 10_000
    for text in ("def main(args):\n    return 1\n" + filler, filler + "SELECT id FROM users;", filler + "$x^2 + 1$"):
        choice = auto.choose({"model": "auto", "messages": [{"role": "user", "content": text}]})
        assert choice.tier == "premium", text[:40]
    assert auto.choose({"model": "auto", "messages": [{"role": "user", "content": filler}]}).tier == "cheap"
