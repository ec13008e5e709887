"""The local provider against the real bundled model (SmolLM2-135M-Instruct on llama.cpp).

One model load is shared by the whole module. Greedy decoding (temperature 0) keeps the texts
deterministic; assertions are about behaviour (stops, limits, counts, slots), not wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from modelrail.errors import ContextWindowExceeded, InvalidRequest, Overloaded
from modelrail.protocol import openai as oa
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.batches import flatten
from modelrail.providers.local import LocalConfig, LocalProvider
from modelrail.providers.registry import provider_class

pytest.importorskip("xllamacpp")

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

PARALLEL = 2
QUEUE = 6
# Token ids of SmolLM2's end-of-generation tokens (<|endoftext|>, <|im_end|>): biasing them away
# makes a generation run to its max_tokens.
NO_EOS = {"0": -100, "2": -100}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local() -> AsyncIterator[LocalProvider]:
    provider = LocalProvider(LocalConfig(model="smol", n_parallel=PARALLEL, max_queue=QUEUE, n_ctx=1024))
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


_ids = iter(range(1_000_000))


def chat(**body: Any) -> Call:
    body = {"model": "smol", "temperature": 0, **body}
    body.setdefault("messages", [{"role": "user", "content": "Say hello."}])
    params = oa.ChatCompletionRequest.model_validate(body)
    return Call(
        request_id=f"t{next(_ids)}", model="smol", body=body, params=params, timeouts=Timeouts(), endpoint="chat"
    )


def completion(**body: Any) -> Call:
    body = {"model": "smol", "temperature": 0, **body}
    params = oa.CompletionRequest.model_validate(body)
    return Call(
        request_id=f"t{next(_ids)}", model="smol", body=body, params=params, timeouts=Timeouts(), endpoint="completions"
    )


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


async def test_registered_as_local() -> None:
    assert provider_class("local") is LocalProvider


async def test_stop_sequence_cuts_the_text(local: LocalProvider) -> None:
    free = await local.completion(completion(prompt="1, 2, 3, 4, 5,", max_tokens=24))
    assert " 8" in free["choices"][0]["text"], "the model should count on past 8 when not stopped"
    stopped = await local.completion(completion(prompt="1, 2, 3, 4, 5,", max_tokens=24, stop=[" 8"]))
    choice = stopped["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert " 8" not in choice["text"] and " 6" in choice["text"]
    assert stopped["usage"]["completion_tokens"] < free["usage"]["completion_tokens"]


async def test_stop_sequence_in_a_chat_stream(local: LocalProvider) -> None:
    messages = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    free = await local.chat(chat(messages=messages, max_tokens=60))
    assert "7" in free["choices"][0]["message"]["content"]
    chunks = await collect(flatten(local.stream(chat(messages=messages, max_tokens=60, stop=["7"]))))
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert "6" in content and "7" not in content
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert chunks[-1]["usage"]["completion_tokens"] < free["usage"]["completion_tokens"]


async def test_max_tokens_gives_length_and_exact_usage(local: LocalProvider) -> None:
    reply = await local.chat(chat(max_completion_tokens=7, logit_bias=NO_EOS))
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 7
    text = await local.completion(completion(prompt="Once upon a time", max_tokens=5, logit_bias=NO_EOS))
    assert text["choices"][0]["finish_reason"] == "length"
    assert text["usage"]["completion_tokens"] == 5


async def test_completions_default_to_sixteen_tokens_like_openai(local: LocalProvider) -> None:
    reply = await local.completion(completion(prompt="Once upon a time", logit_bias=NO_EOS))
    assert reply["usage"]["completion_tokens"] == 16


async def test_prompt_usage_is_the_model_tokenizers_count(local: LocalProvider) -> None:
    prompt = "The capital of France is"
    reply = await local.completion(completion(prompt=prompt, max_tokens=2))
    assert reply["usage"]["prompt_tokens"] == len(await local.tokenize(prompt, add_special=True))

    messages = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "What colour is the sky on a clear day?"},
    ]
    reply = await local.chat(chat(messages=messages, max_tokens=3))
    rendered = await local.render_chat(messages)
    assert "What colour is the sky" in rendered
    expected = len(await local.tokenize(rendered, add_special=True))
    assert reply["usage"]["prompt_tokens"] == expected
    assert reply["usage"]["total_tokens"] == expected + reply["usage"]["completion_tokens"]


async def test_completion_tokens_match_the_streamed_tokens(local: LocalProvider) -> None:
    chunks = await collect(
        flatten(local.stream(completion(prompt="Once upon a time", max_tokens=12, logit_bias=NO_EOS)))
    )
    pieces = [c["choices"][0]["text"] for c in chunks if c["choices"] and c["choices"][0]["text"]]
    # Each generated token arrives as its own chunk (no stop strings to hold text back).
    assert chunks[-1]["usage"]["completion_tokens"] == len(pieces) == 12


async def test_stream_shape(local: LocalProvider) -> None:
    call = chat(max_tokens=4, logit_bias=NO_EOS)
    chunks = await collect(flatten(local.stream(call)))
    first, *middle, last_choice, usage = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == f"chatcmpl-{call.request_id}" for c in chunks)
    assert all(c["model"] == "smol" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in middle] == [None] * len(middle)
    assert len(middle) == 4
    assert last_choice["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 4

    chunks = await collect(flatten(local.stream(completion(prompt="Hi", max_tokens=3, logit_bias=NO_EOS))))
    assert chunks[-1]["object"] == "text_completion" and chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_seed_makes_sampling_repeatable(local: LocalProvider) -> None:
    def call(seed: int) -> Call:
        return completion(prompt="My favourite animal is", max_tokens=12, temperature=1.0, top_p=1.0, seed=seed)

    a = (await local.completion(call(1234)))["choices"][0]["text"]
    b = (await local.completion(call(1234)))["choices"][0]["text"]
    assert a == b
    others = {(await local.completion(call(s)))["choices"][0]["text"] for s in (1, 2, 3)}
    assert len(others | {a}) > 1, "different seeds should give different samples"


async def test_eight_concurrent_requests_are_all_answered(local: LocalProvider) -> None:
    calls = [completion(prompt=f"Item {i}:", max_tokens=6, logit_bias=NO_EOS) for i in range(PARALLEL + QUEUE)]
    replies = await asyncio.gather(*(local.completion(c) for c in calls))
    assert [r["usage"]["completion_tokens"] for r in replies] == [6] * len(calls)
    assert local.engine.gate.busy == 0


async def test_a_full_queue_is_refused_at_once(local: LocalProvider) -> None:
    calls = [completion(prompt=f"Item {i}:", max_tokens=8, logit_bias=NO_EOS) for i in range(PARALLEL + QUEUE + 3)]
    tasks = [asyncio.create_task(local.completion(c)) for c in calls]
    started = time.monotonic()
    done, _ = await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_EXCEPTION)
    refused_after = time.monotonic() - started
    results = await asyncio.gather(*tasks, return_exceptions=True)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 3 and all(isinstance(r, Overloaded) for r in refused)
    assert refused_after < 0.5 and any(t.exception() for t in done if not t.cancelled())
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].status == 503
    assert sum(1 for r in results if isinstance(r, dict)) == PARALLEL + QUEUE


async def test_closing_a_stream_frees_its_slot(local: LocalProvider) -> None:
    long_a = flatten(local.stream(chat(max_tokens=800, logit_bias=NO_EOS)))
    long_b = flatten(local.stream(chat(max_tokens=800, logit_bias=NO_EOS)))
    for _ in range(3):
        await anext(long_a)
        await anext(long_b)
    assert local.engine.gate.busy == PARALLEL
    started = time.monotonic()
    await long_a.aclose()
    assert local.engine.gate.busy == PARALLEL - 1, "aclose() returns once llama.cpp let go of the slot"
    # The freed slot serves a new request while the other long stream is still going.
    reply = await local.completion(completion(prompt="Hello", max_tokens=4, logit_bias=NO_EOS))
    assert reply["usage"]["completion_tokens"] == 4
    assert time.monotonic() - started < 10
    assert local.engine.gate.busy == 1
    await long_b.aclose()
    assert local.engine.gate.busy == 0


async def test_cancelling_the_consumer_task_frees_the_slot(local: LocalProvider) -> None:
    async def consume() -> None:
        async with contextlib.aclosing(flatten(local.stream(chat(max_tokens=800, logit_bias=NO_EOS)))) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    while local.engine.gate.busy == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert local.engine.gate.busy == 0


async def test_event_loop_stays_responsive_while_generating(local: LocalProvider) -> None:
    calls = [completion(prompt="Once upon a time", max_tokens=30, logit_bias=NO_EOS) for _ in range(PARALLEL + 2)]
    started = time.perf_counter()
    job = asyncio.gather(*(local.completion(c) for c in calls))
    worst = 0.0
    while not job.done():
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - t - 0.005)
    await job
    took = time.perf_counter() - started
    # Generating on the loop would stall it for about the whole run; relative, so that a busy
    # machine's scheduling delays do not fail the test.
    assert worst < min(0.25, took / 4), f"the event loop was blocked for {worst:.3f} s of {took:.2f} s"


async def test_context_overflow_is_a_400(local: LocalProvider) -> None:
    with pytest.raises(ContextWindowExceeded) as info:
        await local.completion(completion(prompt="word " * 2000, max_tokens=4))
    assert info.value.status == 400
    assert local.engine.gate.busy == 0


async def test_unsupported_fields_are_refused(local: LocalProvider) -> None:
    with pytest.raises(InvalidRequest):
        await local.chat(chat(n=2))
    with pytest.raises(InvalidRequest):
        await local.completion(completion(prompt="a", echo=True))
    with pytest.raises(InvalidRequest):
        await local.completion(completion(prompt=["a", "b"]))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(InvalidRequest, match="image"):
        await local.chat(chat(messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}, image]}]))
    assert local.engine.gate.busy == 0


async def test_text_content_parts_are_accepted(local: LocalProvider) -> None:
    parts = [{"type": "text", "text": "Say"}, {"type": "text", "text": " hello."}]
    reply = await local.chat(chat(messages=[{"role": "user", "content": parts}], max_tokens=3))
    assert reply["usage"]["completion_tokens"] >= 1


async def test_token_prompts_are_accepted(local: LocalProvider) -> None:
    tokens = await local.tokenize("The capital of France is")
    reply = await local.completion(completion(prompt=tokens, max_tokens=3))
    assert reply["usage"]["prompt_tokens"] == len(tokens)


async def test_list_models(local: LocalProvider) -> None:
    assert [m["id"] for m in await local.list_models()] == ["smol"]


async def test_config_refuses_unknown_keys_and_picks_threads() -> None:
    with pytest.raises(ValueError):
        LocalConfig.model_validate({"model": "x", "n_thread": 2})
    assert LocalConfig(model="x", n_threads=3).threads() == 3
    assert 1 <= LocalConfig(model="x").threads() <= 8
    assert LocalConfig(model="x").model_path().name.endswith(".gguf")


async def test_a_missing_model_file_fails_start(tmp_path: Any) -> None:
    provider = LocalProvider(LocalConfig(model="x", path=tmp_path / "nope.gguf"))
    with pytest.raises(FileNotFoundError):
        await provider.start()


async def test_bodies_and_chunks_conform_to_the_openai_spec(local: LocalProvider) -> None:
    from tests.conformance import validate_against

    validate_against("CreateChatCompletionResponse", await local.chat(chat(max_tokens=4)))
    for chunk in await collect(flatten(local.stream(chat(max_tokens=4, stream=True)))):
        validate_against("CreateChatCompletionStreamResponse", chunk)
    validate_against("CreateCompletionResponse", await local.completion(completion(prompt="Hi", max_tokens=4)))
