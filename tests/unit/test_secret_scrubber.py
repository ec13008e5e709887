"""Secrets echoed in an upstream's error text never reach the client."""

from __future__ import annotations

import pytest

from modelrail.observability.secrets import REDACTED, SecretScrubber


@pytest.mark.parametrize(
    "text",
    [
        "invalid header: Authorization: Bearer sk-upstream-secret-9876543210",
        "echo: {'authorization': 'Bearer abcdefghijklmnop'}",
        "bad key sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "key=AIzaSyA1234567890abcdefghijklmnopqrstu rejected",
        "credential AKIAIOSFODNN7EXAMPLE is not valid",
        'headers: {"api-key": "0123456789abcdef"}',
        "x-api-key: my-azure-key-value",
        "client sent mr-abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_credential_shapes_are_redacted(text: str) -> None:
    out = SecretScrubber()(text)
    assert REDACTED in out
    for secret in ("sk-upstream", "abcdefghijklmnop", "api03", "AIzaSy", "AKIAIOSF", "0123456789abcdef", "my-azure"):
        assert secret not in out


def test_the_deployments_own_key_is_redacted_whatever_its_shape() -> None:
    scrub = SecretScrubber(["plainkey-without-a-known-shape"])
    out = scrub("upstream says: you sent plainkey-without-a-known-shape, which is wrong")
    assert "plainkey" not in out and REDACTED in out


def test_labels_and_ordinary_text_stay() -> None:
    scrub = SecretScrubber(["ab"])  # too short to be a key: not used
    assert scrub("Bearer sk-aaaaaaaaaaaaaaaaaaaaaaaa") == f"Bearer {REDACTED}"
    assert scrub("The model gpt-4o is overloaded; try again about 20 seconds from now.") == (
        "The model gpt-4o is overloaded; try again about 20 seconds from now."
    )


def test_long_text_is_cut_before_scanning() -> None:
    out = SecretScrubber(max_chars=100)("x" * 10_000 + " Bearer sk-aaaaaaaaaaaaaaaaaaaaaaaa")
    assert len(out) == 103
