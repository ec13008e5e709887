"""An upstream's usage object is read defensively: what is not a token count is not trusted."""

from __future__ import annotations

import pytest

from modelrail.context import Usage


def test_counts_are_read() -> None:
    u = Usage.from_openai({"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}})
    assert u == Usage(prompt_tokens=12, completion_tokens=3, cached_tokens=4)
    assert Usage.from_openai({"prompt_tokens": 5.0, "completion_tokens": None}) == Usage(5, 0)


@pytest.mark.parametrize(
    "bad",
    ["abc", "12", -1, 1e300, float("nan"), float("inf"), 2.5, True, [], {"n": 1}],
)
def test_what_is_not_a_count_means_no_usage(bad: object) -> None:
    # No usage: the request is then billed by estimate, never crashes on the upstream's answer.
    assert Usage.from_openai({"prompt_tokens": bad, "completion_tokens": 1}) is None
    assert Usage.from_openai({"prompt_tokens": 1, "completion_tokens": bad}) is None


def test_a_bad_cached_count_is_zero() -> None:
    u = Usage.from_openai({"prompt_tokens": 2, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": "x"}})
    assert u == Usage(2, 1, 0)


def test_not_an_object_is_no_usage() -> None:
    assert Usage.from_openai("usage") is None
    assert Usage.from_openai(None) is None
