"""The Provider contract: what ``serves`` reads, and what an unserved call raises."""

from __future__ import annotations

import pytest

from modelrail.errors import InvalidRequest
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig, Timeouts
from modelrail.providers.fake import FakeConfig, FakeProvider
from modelrail.providers.local_embeddings import LocalEmbeddingsConfig, LocalEmbeddingsProvider
from modelrail.providers.openai import OpenAIConfig, OpenAIProvider


class _EmbeddingsOnly(Provider):
    kind = "embeddings-only"

    async def embeddings(self, call: Call) -> JSONObject:
        return {"object": "list", "data": []}


def _call(endpoint: str) -> Call:
    return Call(request_id="r", model="m", body={}, params=None, timeouts=Timeouts(), endpoint=endpoint)


def test_serves_reads_the_unary_methods_a_provider_overrides() -> None:
    only = _EmbeddingsOnly(ProviderConfig(model="m"))
    assert only.serves("embeddings")
    assert not only.serves("chat")
    assert not only.serves("completions")
    assert not only.serves("moderations")  # an endpoint no provider method serves
    for provider in (FakeProvider(FakeConfig(model="m")), OpenAIProvider(OpenAIConfig(model="m"))):
        assert all(provider.serves(e) for e in ("chat", "completions", "embeddings"))
    local = LocalEmbeddingsProvider(LocalEmbeddingsConfig(model="m"))
    assert (local.serves("chat"), local.serves("completions"), local.serves("embeddings")) == (False, False, True)


async def test_an_unserved_call_or_stream_is_an_invalid_request() -> None:
    only = _EmbeddingsOnly(ProviderConfig(model="m"))
    with pytest.raises(InvalidRequest, match="does not support chat completions"):
        await only.chat(_call("chat"))
    with pytest.raises(InvalidRequest, match="does not support streamed completions"):
        only.stream(_call("completions"))


async def test_the_fake_streams_the_endpoint_the_call_names() -> None:
    from modelrail.protocol import openai as oa
    from modelrail.providers.batches import flatten

    fake = FakeProvider(FakeConfig(model="m", reply="a b"))
    chat = oa.ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    text = oa.CompletionRequest.model_validate({"model": "m", "prompt": "x"})
    call = Call(request_id="r", model="m", body={}, params=chat, timeouts=Timeouts(), endpoint="chat")
    chunks = [c async for c in flatten(fake.stream(call))]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    call = Call(request_id="r", model="m", body={}, params=text, timeouts=Timeouts(), endpoint="completions")
    chunks = [c async for c in flatten(fake.stream(call))]
    assert {c["object"] for c in chunks} == {"text_completion"}
