"""The embedded default's speed: llama.cpp called directly (xllamacpp) vs the ``local`` provider vs
``modelrail serve`` over HTTP, at 1 and 4 concurrent streams; and embeddings per second.

Every stream generates exactly ``--tokens`` tokens (the end-of-text tokens are biased away), so
the three paths do the same work. Printed per path and concurrency: median time to first token,
the median decode rate of one stream (tokens after the first, over the time after the first), and
the aggregate rate (all tokens over the wall time). Each figure is the median of ``--rounds``.

    python benchmarks/local_model.py [--tokens 128] [--rounds 3] [--threads N] [--no-http]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from modelrail.protocol import openai as oa
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.batches import flatten
from modelrail.providers.local import LocalConfig, LocalProvider
from modelrail.providers.local.engine import start_server
from modelrail.providers.local_embeddings import LocalEmbeddingsConfig, LocalEmbeddingsProvider
from modelrail.testing.servers import free_port, serve_subprocess

MODEL = "smollm2-135m-instruct"
EMBED_MODEL = "all-minilm-l6-v2"
KEY = "mr-bench-local-0123456789abcdef"
# SmolLM2's end-of-generation tokens (<|endoftext|>, <|im_end|>).
NO_EOS = {"0": -100, "2": -100}
PROMPTS = [
    "Tell me a long story about a lighthouse keeper.",
    "Explain how a steam engine works, step by step.",
    "Describe a walk through a busy market in the morning.",
    "Write a letter to a friend about a trip to the mountains.",
]
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A gateway puts one API in front of many language models.",
    "Embeddings map sentences to points in a vector space.",
    "Rate limits and budgets keep every tenant within bounds.",
]


@dataclass(slots=True)
class Stream:
    started: float
    first: float | None = None
    last: float | None = None
    tokens: int = 0

    def token(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.tokens += 1

    @property
    def ttft(self) -> float:
        return (self.first or self.started) - self.started

    @property
    def decode_rate(self) -> float:
        span = (self.last or 0) - (self.first or 0)
        return (self.tokens - 1) / span if span > 0 and self.tokens > 1 else 0.0


@dataclass(slots=True)
class Row:
    path: str
    streams: int
    ttft_ms: float
    decode: float
    aggregate: float


def body(i: int, tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
        "max_tokens": tokens,
        "temperature": 0.7,
        "seed": i,
        "logit_bias": NO_EOS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def summarize(path: str, n: int, rounds: list[tuple[list[Stream], float]]) -> Row:
    ttft = statistics.median(statistics.median(s.ttft for s in streams) for streams, _ in rounds)
    decode = statistics.median(statistics.median(s.decode_rate for s in streams) for streams, _ in rounds)
    aggregate = statistics.median(sum(s.tokens for s in streams) / wall for streams, wall in rounds)
    return Row(path, n, ttft * 1000, decode, aggregate)


# -- the three paths -------------------------------------------------------------------------------


def run_direct(server: Any, n: int, tokens: int) -> tuple[list[Stream], float]:
    streams = [Stream(0.0) for _ in range(n)]

    def one(i: int) -> None:
        s = streams[i]

        def on_chunk(chunk: dict[str, Any]) -> bool:
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    s.token()
            return False

        s.started = time.perf_counter()
        server.handle_chat_completions(body(i, tokens), on_chunk)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return streams, time.perf_counter() - started


async def run_provider(provider: LocalProvider, n: int, tokens: int) -> tuple[list[Stream], float]:
    async def one(i: int) -> Stream:
        data = body(i, tokens)
        call = Call(
            request_id=f"b{i}",
            model=MODEL,
            body=data,
            params=oa.ChatCompletionRequest.model_validate(data),
            timeouts=Timeouts(),
            endpoint="chat",
        )
        s = Stream(time.perf_counter())
        async for chunk in flatten(provider.stream(call)):
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    s.token()
        return s

    started = time.perf_counter()
    streams = await asyncio.gather(*(one(i) for i in range(n)))
    return list(streams), time.perf_counter() - started


async def run_http(client: httpx.AsyncClient, n: int, tokens: int) -> tuple[list[Stream], float]:
    async def one(i: int) -> Stream:
        s = Stream(time.perf_counter())
        async with client.stream("POST", "/v1/chat/completions", json=body(i, tokens)) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                for choice in orjson.loads(line[6:])["choices"]:
                    if choice["delta"].get("content"):
                        s.token()
        return s

    started = time.perf_counter()
    streams = await asyncio.gather(*(one(i) for i in range(n)))
    return list(streams), time.perf_counter() - started


@contextlib.contextmanager
def http_server(workdir: Path, threads: int | None) -> Iterator[str]:
    port = free_port()
    config = workdir / "modelrail-local.yaml"
    thread_line = f"    n_threads: {threads}\n" if threads else ""
    config.write_text(
        f"data_dir: {workdir / 'data'}\n"
        f'auth: {{master_key: "{KEY}"}}\n'
        "models:\n"
        f"  - name: {MODEL}\n"
        "    provider: local\n"
        "    n_parallel: 4\n"
        f"{thread_line}"
        f"  - name: {EMBED_MODEL}\n"
        "    provider: local_embeddings\n"
    )
    modelrail = str(Path(sys.executable).parent / "modelrail")
    args = [modelrail, "serve", "--config", str(config), "--port", str(port), "--workers", "1"]
    with serve_subprocess(args, port, health_path="/healthz", cwd=workdir, timeout=120) as served:
        yield served.url


# -- embeddings --------------------------------------------------------------------------------------


async def embed_rate(send: Callable[[list[str]], Any], batch: int, seconds: float) -> float:
    texts = [f"{SENTENCES[i % len(SENTENCES)]} ({i})" for i in range(batch)]
    await send(texts)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await send(texts)
        done += batch
    return done / (time.perf_counter() - started)


# -- main ----------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> tuple[list[Row], list[tuple[str, float]]]:
    cfg = LocalConfig(model=MODEL, n_parallel=4, n_threads=args.threads)
    levels = [1, 4]
    rows: list[Row] = []
    embeds: list[tuple[str, float]] = []

    with tempfile.TemporaryDirectory(prefix="modelrail-bench-local-") as tmp:
        server = await asyncio.to_thread(start_server, cfg, cfg.model_path(), cfg.threads(), Path(tmp), KEY)
        await asyncio.to_thread(run_direct, server, 1, 8)  # warm-up
        for n in levels:
            rounds = [await asyncio.to_thread(run_direct, server, n, args.tokens) for _ in range(args.rounds)]
            rows.append(summarize("xllamacpp direct", n, rounds))
        del server

    provider = LocalProvider(cfg)
    await provider.start()
    try:
        await run_provider(provider, 1, 8)
        for n in levels:
            rounds = [await run_provider(provider, n, args.tokens) for _ in range(args.rounds)]
            rows.append(summarize("local provider", n, rounds))
    finally:
        await provider.close()

    embedder = LocalEmbeddingsProvider(LocalEmbeddingsConfig(model=EMBED_MODEL))
    await embedder.start()
    try:

        async def direct(texts: list[str]) -> Any:
            data = {"model": EMBED_MODEL, "input": texts}
            params = oa.EmbeddingRequest.model_validate(data)
            call = Call(
                request_id="e", model=EMBED_MODEL, body=data, params=params, timeouts=Timeouts(), endpoint="embeddings"
            )
            return await embedder.embeddings(call)

        embeds.append(("local_embeddings provider, batches of 32", await embed_rate(direct, 32, args.seconds)))
        embeds.append(("local_embeddings provider, one per call", await embed_rate(direct, 1, args.seconds)))
    finally:
        await embedder.close()

    if not args.no_http:
        with (
            tempfile.TemporaryDirectory(prefix="modelrail-bench-http-") as tmp,
            http_server(Path(tmp), args.threads) as url,
        ):
            headers = {"Authorization": f"Bearer {KEY}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as client:
                await run_http(client, 1, 8)
                for n in levels:
                    rounds = [await run_http(client, n, args.tokens) for _ in range(args.rounds)]
                    rows.append(summarize("HTTP (modelrail serve)", n, rounds))

                async def over_http(texts: list[str]) -> Any:
                    r = await client.post("/v1/embeddings", json={"model": EMBED_MODEL, "input": texts})
                    r.raise_for_status()

                embeds.append(("HTTP /v1/embeddings, batches of 32", await embed_rate(over_http, 32, args.seconds)))
    return rows, embeds


def print_table(rows: list[Row], embeds: list[tuple[str, float]], args: argparse.Namespace, threads: int) -> None:
    print(f"\nSmolLM2-135M-Instruct Q4_1, {args.tokens} tokens per stream, {threads} thread(s), n_parallel 4, "
          f"{os.cpu_count()} CPUs, median of {args.rounds} rounds")  # fmt: skip
    print(f"{'path':<24} {'streams':>7} {'TTFT ms':>9} {'tok/s per stream':>17} {'tok/s total':>12}")
    for r in rows:
        print(f"{r.path:<24} {r.streams:>7} {r.ttft_ms:>9.0f} {r.decode:>17.1f} {r.aggregate:>12.1f}")
    print(f"\n{'all-MiniLM-L6-v2 int8 ONNX':<44} {'embeddings/s':>13}")
    for name, rate in embeds:
        print(f"{name:<44} {rate:>13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per stream")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the provider's)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each embeddings measurement")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP server")
    args = parser.parse_args()
    rows, embeds = asyncio.run(bench(args))
    print_table(rows, embeds, args, LocalConfig(model=MODEL, n_threads=args.threads).threads())


if __name__ == "__main__":
    main()
