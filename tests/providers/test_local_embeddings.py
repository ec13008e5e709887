"""The local embedding provider against vectors from sentence-transformers itself.

fixtures/minilm_reference.json holds float32 all-MiniLM-L6-v2 vectors and token counts made by
sentence-transformers with PyTorch (fixtures/make_minilm_reference.py); the provider runs an int8
ONNX export of the same model with no PyTorch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from modelrail.errors import InvalidRequest, Overloaded
from modelrail.protocol import openai as oa
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.local_embeddings import LocalEmbeddingsConfig, LocalEmbeddingsProvider
from modelrail.providers.registry import provider_class

pytest.importorskip("onnxruntime")

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text("utf-8"))["items"]
TEXTS = [item["text"] for item in REFERENCE]
VECTORS = np.array([item["embedding"] for item in REFERENCE], dtype=np.float64)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def embedder() -> AsyncIterator[LocalEmbeddingsProvider]:
    # A small batch, so one request spans several model runs and their reordering is exercised.
    provider = LocalEmbeddingsProvider(LocalEmbeddingsConfig(model="minilm", max_batch=3, max_queue=2))
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


def call(**body: Any) -> Call:
    body = {"model": "minilm", **body}
    params = oa.EmbeddingRequest.model_validate(body)
    return Call(request_id="e1", model="minilm", body=body, params=params, timeouts=Timeouts(), endpoint="embeddings")


def as_matrix(reply: dict[str, Any]) -> np.ndarray[Any, Any]:
    return np.array([d["embedding"] for d in sorted(reply["data"], key=lambda d: d["index"])], dtype=np.float64)


async def test_registered_as_local_embeddings() -> None:
    assert provider_class("local_embeddings") is LocalEmbeddingsProvider


async def test_vectors_match_sentence_transformers(embedder: LocalEmbeddingsProvider) -> None:
    reply = await embedder.embeddings(call(input=TEXTS))
    got = as_matrix(reply)
    assert got.shape == (len(TEXTS), 384)
    cosines = (got * VECTORS).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(VECTORS, axis=1)
    assert cosines.min() >= 0.99, dict(zip(TEXTS, cosines.round(4).tolist(), strict=True))
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


async def test_order_and_usage(embedder: LocalEmbeddingsProvider) -> None:
    # Shuffled, so sorting by length inside the provider must put each vector back in place.
    order = [10, 0, 9, 3, 7, 1, 8, 2, 6, 4, 5]
    reply = await embedder.embeddings(call(input=[TEXTS[i] for i in order]))
    assert [d["index"] for d in reply["data"]] == list(range(len(order)))
    got = as_matrix(reply)
    for row, i in enumerate(order):
        assert float(got[row] @ VECTORS[i]) >= 0.99
    # Tokens as the reference tokenizer counts them, [CLS] and [SEP] included, cut at 256.
    tokens = sum(REFERENCE[i]["tokens"] for i in order)
    assert reply["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert reply["object"] == "list" and reply["model"] == "minilm"
    assert all(d["object"] == "embedding" for d in reply["data"])


async def test_semantics_rank_a_paraphrase_first(embedder: LocalEmbeddingsProvider) -> None:
    reply = await embedder.embeddings(call(input=TEXTS[1:4]))
    guitar, instrument, stocks = as_matrix(reply)
    assert guitar @ instrument > guitar @ stocks + 0.2


async def test_base64_round_trip(embedder: LocalEmbeddingsProvider) -> None:
    floats = as_matrix(await embedder.embeddings(call(input=TEXTS[:4])))
    encoded = await embedder.embeddings(call(input=TEXTS[:4], encoding_format="base64"))
    for row, item in zip(floats, encoded["data"], strict=True):
        assert isinstance(item["embedding"], str)
        decoded = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        assert decoded.shape == (384,)
        np.testing.assert_allclose(decoded, row, atol=1e-8)


async def test_a_single_string(embedder: LocalEmbeddingsProvider) -> None:
    reply = await embedder.embeddings(call(input=TEXTS[4]))
    assert len(reply["data"]) == 1
    assert float(as_matrix(reply)[0] @ VECTORS[4]) >= 0.99
    assert reply["usage"]["prompt_tokens"] == REFERENCE[4]["tokens"]


async def test_refusals(embedder: LocalEmbeddingsProvider) -> None:
    with pytest.raises(InvalidRequest) as info:
        await embedder.embeddings(call(input=[101, 2023, 102]))
    assert info.value.param == "input"
    with pytest.raises(InvalidRequest) as info:
        await embedder.embeddings(call(input="hello", dimensions=256))
    assert info.value.param == "dimensions"
    # The model's own size is accepted.
    assert len((await embedder.embeddings(call(input="hello", dimensions=384)))["data"][0]["embedding"]) == 384


async def test_a_full_queue_is_refused_at_once(embedder: LocalEmbeddingsProvider) -> None:
    big = [f"{t} number {i}" for i in range(5) for t in TEXTS[:8]]
    tasks = [asyncio.create_task(embedder.embeddings(call(input=big))) for _ in range(5)]
    started = time.monotonic()
    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    assert time.monotonic() - started < 1.0
    results = await asyncio.gather(*tasks, return_exceptions=True)
    refused = [r for r in results if isinstance(r, Overloaded)]
    # One running and two waiting (max_queue=2); the other two are turned away.
    assert len(refused) == 2
    assert refused[0].status == 503 and int(refused[0].headers["Retry-After"]) >= 1
    assert sum(1 for r in results if isinstance(r, dict)) == 3


async def test_event_loop_stays_responsive(embedder: LocalEmbeddingsProvider) -> None:
    started = time.perf_counter()
    job = asyncio.ensure_future(embedder.embeddings(call(input=[TEXTS[10]] * 16)))
    worst = 0.0
    while not job.done():
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - t - 0.005)
    await job
    took = time.perf_counter() - started
    # Embedding on the loop would stall it for about the whole run; relative, so that a busy
    # machine's scheduling delays do not fail the test.
    assert worst < min(0.25, took / 4), f"the event loop was blocked for {worst:.3f} s of {took:.2f} s"
