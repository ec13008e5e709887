from __future__ import annotations

import pytest

from modelrail.providers.upstream_errors import error_message, parse_duration, retry_after_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("2.5", 2.5),
        ("", None),
        ("abc", None),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_retry_after_sources():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "7s"}) == 7.0
    assert retry_after_seconds({}) is None
    assert 0 <= retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_error_message():
    assert error_message(b'{"error": {"message": "bad thing"}}') == "bad thing"
    assert error_message(b"<html>gateway</html>") == "no error details"
    assert len(error_message(b'{"error": {"message": "' + b"x" * 2000 + b'"}}')) == 500
