"""Long texts are counted in bounded slices: linear cost on any input, nearly exact counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrail.usage import tokens as tokens_module
from modelrail.usage.tokens import TokenCounter

ROOT = Path(__file__).resolve().parents[2]


class SpyEncoding:
    """Records the length of every text handed to the BPE."""

    name = "spy"

    def __init__(self) -> None:
        self.lengths: list[int] = []

    def encode_ordinary(self, text: str) -> list[int]:
        self.lengths.append(len(text))
        return [0] * ((len(text) + 3) // 4)


def test_no_piece_longer_than_a_slice_reaches_the_bpe() -> None:
    spy = SpyEncoding()
    counter = TokenCounter(data_dir=Path("/nonexistent"))
    for text in ("x" * 200_000, ("word " * 50_000), "a b" + "y" * 100_000):
        spy.lengths.clear()
        counter.tokens(spy, text)  # type: ignore[arg-type]
        assert max(spy.lengths) <= tokens_module._SLICE
        assert sum(spy.lengths) == len(text)  # every character counted once


def test_short_texts_go_whole() -> None:
    spy = SpyEncoding()
    counter = TokenCounter(data_dir=Path("/nonexistent"))
    counter.tokens(spy, "z" * tokens_module._SLICE)  # type: ignore[arg-type]
    assert spy.lengths == [tokens_module._SLICE]


@pytest.mark.parametrize("source", ["README.md", "src/modelrail/usage/tokens.py"])
def test_sliced_counts_stay_within_a_tenth_of_a_percent(source: str) -> None:
    counter = TokenCounter()
    enc = counter.for_model("gpt-4o")
    text = (ROOT / source).read_text() * 3
    exact = len(enc.encode_ordinary(text))
    sliced = counter.count_text("gpt-4o", text)
    assert abs(sliced - exact) <= exact * 0.001
    assert counter.count_text("gpt-4o", "a" * 100_000) == 12_500  # a run of one letter: exact too
