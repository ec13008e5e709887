"""Routing fields never pass upstream; media URLs only as data: or from allowed hosts."""

from __future__ import annotations

from typing import Any

import pytest

from modelrail.errors import InvalidRequest
from modelrail.guardrails.inputs import BLOCKED_FIELDS, InputGuard, InputSettings


def guard(**settings: Any) -> InputGuard:
    return InputGuard(InputSettings.model_validate(settings))


def image(url: str) -> dict[str, Any]:
    part = {"type": "image_url", "image_url": {"url": url}}
    return {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, part]}]}


def anthropic_image(url: str) -> dict[str, Any]:
    block = {"type": "image", "source": {"type": "url", "url": url}}
    return {"model": "m", "messages": [{"role": "user", "content": [block]}]}


def test_routing_fields_are_removed() -> None:
    body = {"model": "m", "messages": [], "api_base": "http://169.254.169.254", "base_url": "x", "api_key": "k"}
    body.update({"headers": {"x": "y"}, "extra_headers": {}, "temperature": 0.5, "vendor_knob": 7})
    guard().check(body)
    assert body == {"model": "m", "messages": [], "temperature": 0.5, "vendor_knob": 7}
    assert {"api_base", "base_url", "api_key", "headers", "extra_headers"} <= BLOCKED_FIELDS


def test_operator_fields_are_removed_too() -> None:
    body = {"model": "m", "tenant_override": 1}
    guard(blocked_fields=["tenant_override"]).check(body)
    assert body == {"model": "m"}


def test_data_urls_always_pass() -> None:
    body = image("data:image/png;base64,iVBORw0KGgo=")
    guard().check(body)
    assert body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:")


@pytest.mark.parametrize("make", [image, anthropic_image])
def test_remote_urls_are_refused_by_default(make) -> None:
    with pytest.raises(InvalidRequest) as caught:
        guard().check(make("https://example.com/cat.png"))
    assert caught.value.code == "url_not_allowed"
    assert caught.value.param and caught.value.param.startswith("messages[0].content[")


def test_allowed_hosts_pass_and_others_do_not() -> None:
    g = guard(allowed_url_hosts=["cdn.example.com"])
    g.check(image("https://cdn.example.com/cat.png"))
    g.check(image("https://CDN.example.com./cat.png"))
    with pytest.raises(InvalidRequest):
        g.check(image("https://evil.example.net/cat.png"))
    with pytest.raises(InvalidRequest):
        g.check(image("http://cdn.example.com/cat.png"))  # https only


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/x",
        "https://10.0.0.5/x",
        "https://[::1]/x",
        "https://[::ffff:169.254.169.254]/x",
        "https://localhost/x",
        "https://metadata.google.internal/x",
        "file:///etc/passwd",
        "gopher://x/",
        "https:///nohost",
    ],
)
def test_internal_and_odd_urls_are_refused_even_when_remote_urls_are_allowed(url: str) -> None:
    with pytest.raises(InvalidRequest):
        guard(remote_urls="allow").check(image(url))


def test_public_urls_pass_when_allowed() -> None:
    guard(remote_urls="allow").check(image("https://example.com/cat.png"))
    guard(remote_urls="allow").check(anthropic_image("https://93.184.216.34/cat.png"))


def test_urls_inside_tool_results_and_documents_are_checked() -> None:
    doc = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [doc]}
    with pytest.raises(InvalidRequest, match=r"content\[0\]\.content\[0\]\.source\.url"):
        guard().check({"model": "m", "messages": [{"role": "user", "content": [result]}]})
    file_part = {"type": "file", "file": {"file_url": "https://example.com/a.pdf"}}
    with pytest.raises(InvalidRequest):
        guard().check({"model": "m", "messages": [{"role": "user", "content": [file_part]}]})


def test_text_only_requests_are_untouched() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "https://example.com is a link in text"}]}
    guard().check(body)
    assert body["messages"][0]["content"] == "https://example.com is a link in text"


async def test_the_app_refuses_a_metadata_url_in_each_dialect(app_factory) -> None:
    from tests.conftest import AUTH, fake_provider, running

    app = app_factory()
    url = "https://169.254.169.254/latest/meta-data/iam"
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", headers=AUTH, json=image(url) | {"model": "fake-chat"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "url_not_allowed"
        r = await client.post(
            "/v1/messages", headers=AUTH, json=anthropic_image(url) | {"model": "fake-chat", "max_tokens": 5}
        )
        assert r.status_code == 400
        assert r.json()["type"] == "error" and "private" in r.json()["error"]["message"]
        r = await client.post(
            "/v1/chat/completions", headers=AUTH, json=image("data:image/png;base64,AAAA") | {"model": "fake-chat"}
        )
        assert r.status_code == 200
    assert fake_provider(app).calls == 1  # only the allowed request reached the provider
