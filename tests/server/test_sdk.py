"""The official openai SDK, sync and async, against a real server on loopback."""

from __future__ import annotations

import openai
import pytest

from tests.server.conftest import MASTER_KEY, UPSTREAM_KEY

pytestmark = pytest.mark.slow
MSG = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.fixture
def async_sdk(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "fake-chat"])
def test_sync_completion_and_stream(sdk, model):
    r = sdk.chat.completions.create(model=model, messages=MSG)
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.completion_tokens > 0
    stream = sdk.chat.completions.create(model=model, messages=MSG, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].choices == []


async def test_async_completion_and_stream(async_sdk):
    r = await async_sdk.chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=3)
    assert r.choices[0].finish_reason == "length"
    stream = await async_sdk.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2


def test_sdk_other_endpoints(sdk):
    assert {m.id for m in sdk.models.list()} == {"gpt-4o-mini", "fake-chat"}
    assert sdk.models.retrieve("fake-chat").id == "fake-chat"
    emb = sdk.embeddings.create(model="gpt-4o-mini", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    comp = sdk.completions.create(model="gpt-4o-mini", prompt="Say hi")
    assert comp.choices[0].text


def test_sdk_error_classes(server, sdk):
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong-key-000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="fake-chat", messages=MSG)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=MSG)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=MSG, stream=True)
    with pytest.raises(openai.BadRequestError) as e:
        sdk.chat.completions.create(model="fake-chat", messages=MSG, temperature=3.5)
    assert e.value.param == "temperature"
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="fake-chat", messages=[])


async def test_async_sdk_errors(server):
    bad = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="nope-nope-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.chat.completions.create(model="fake-chat", messages=MSG)


def test_forwarding_uses_operator_key_and_passes_unknown_fields(mock, sdk):
    app, _ = mock
    app.reset()
    sdk.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_body={"vendor_knob": 7})
    recorded = app.requests[-1].to_json()
    assert recorded["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert MASTER_KEY not in str(recorded["headers"])
    assert recorded["body"]["vendor_knob"] == 7
    assert recorded["body"]["model"] == "gpt-4o-mini"


def test_client_cannot_choose_upstream_url(mock, sdk):
    app, _ = mock
    app.reset()
    # Fields that name an address or a key are never used to pick where to call.
    sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=MSG,
        extra_body={"api_base": "http://127.0.0.2:1/v1", "base_url": "http://127.0.0.2:1", "api_key": "sk-evil"},
    )
    recorded = app.requests[-1].to_json()
    assert recorded["path"] == "/v1/chat/completions"
    assert recorded["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    # And they never reach the upstream at all (a chained gateway might honour them).
    for field in ("api_base", "base_url", "api_key"):
        assert field not in recorded["body"]
