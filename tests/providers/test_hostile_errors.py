"""An upstream's error answers, however odd, become clean errors: no crash, no secret echoed."""

from __future__ import annotations

import math

import orjson
import pytest

from modelrail.errors import UpstreamRateLimited
from modelrail.providers.openai import OpenAIErrors
from modelrail.providers.upstream_errors import MAX_RETRY_AFTER, retry_after_seconds, status_error


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "inf"}, MAX_RETRY_AFTER),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "soon-ish"}, None),
        ({"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"}, None),
        ({"retry-after": "1e999"}, MAX_RETRY_AFTER),
        ({"retry-after-ms": "inf"}, MAX_RETRY_AFTER),
        ({"retry-after-ms": "250"}, 0.25),
        ({"x-ratelimit-reset-requests": "1.2.3s"}, None),
        ({"x-ratelimit-reset-tokens": "999999h"}, MAX_RETRY_AFTER),
        ({"retry-after": "7"}, 7.0),
    ],
)
def test_retry_after_is_finite_and_bounded(headers: dict[str, str], expected: float | None) -> None:
    got = retry_after_seconds(headers)
    assert got == expected
    assert got is None or (math.isfinite(got) and 0 <= got <= MAX_RETRY_AFTER)


@pytest.mark.parametrize("value", ["inf", "soon-ish", "nan", "Mon, 32 Foo 2026 99:99:99 GMT"])
def test_a_429_with_any_retry_after_is_a_rate_limit(value: str) -> None:
    exc = status_error(429, b'{"error": {"message": "slow down"}}', {"retry-after": value}, OpenAIErrors())
    assert isinstance(exc, UpstreamRateLimited)
    assert "retry-after" not in exc.headers or int(exc.headers["retry-after"]) >= 1


def test_an_upstream_that_echoes_the_key_has_it_taken_out() -> None:
    key = "sk-upstream-secret-9876"
    body = orjson.dumps({"error": {"message": f"bad request; headers were {{'authorization': 'Bearer {key}'}}"}})
    for status in (400, 500, 503, 429):
        exc = status_error(status, body, {}, OpenAIErrors([key]))
        assert key not in exc.message
        assert "[redacted]" in exc.message
    # A key without a known shape, echoed bare, is found by its literal value.
    plain = "plainkey-without-any-shape-1"
    exc = status_error(400, orjson.dumps({"error": {"message": f"key {plain} unknown"}}), {}, OpenAIErrors([plain]))
    assert plain not in exc.message
