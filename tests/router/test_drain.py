"""Graceful drain: SIGTERM lets open streams finish, and new requests are refused meanwhile."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import httpx
import pytest
import yaml

from modelrail.testing.servers import free_port, serve_subprocess
from tests.conftest import AUTH, MASTER_KEY, running
from tests.router.helpers import build, chat, fake

WORDS = " ".join(f"w{i}" for i in range(20))


@pytest.mark.slow
async def test_sigterm_during_20_open_streams_finishes_all_20(tmp_path):
    config = {
        "auth": {"master_key": MASTER_KEY},
        "server": {"graceful_timeout": 15},
        # 20 words at 10 words/s: each stream lasts about two seconds.
        "models": [fake("slow-stream", reply=WORDS, tokens_per_second=10)],
    }
    path = tmp_path / "modelrail.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [sys.executable, "-m", "modelrail", "serve", "--config", str(path), "--port", str(port)]
    env = {"MODELRAIL_DATA_DIR": str(tmp_path / "data")}
    with serve_subprocess(args, port, health_path="/healthz", env=env, timeout=30) as served:
        started = asyncio.Event()
        first_chunks = 0

        async def one(client: httpx.AsyncClient) -> str:
            nonlocal first_chunks
            text = ""
            async with client.stream("POST", "/v1/chat/completions", json=chat("slow-stream", True), headers=AUTH) as r:
                assert r.status_code == 200
                async for piece in r.aiter_text():
                    if not text:
                        first_chunks += 1
                        if first_chunks == 20:
                            started.set()
                    text += piece
            return text

        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=served.url, timeout=30, limits=limits) as client:
            tasks = [asyncio.create_task(one(client)) for _ in range(20)]
            await asyncio.wait_for(started.wait(), 10)
            t0 = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            texts = await asyncio.gather(*tasks)
            finished = time.monotonic() - t0
        # Every stream ran to its end: all 20 words, then [DONE].
        for text in texts:
            assert text.rstrip().endswith("data: [DONE]"), text[-200:]
            assert text.count('"content":"') >= 21
        assert finished > 0.5  # they really were still streaming when the signal came
        # A request after the signal finds the door closed: no new connection is accepted.
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient(base_url=served.url, timeout=2) as late:
                await late.post("/v1/chat/completions", json=chat("slow-stream"), headers=AUTH)
        assert served.process.wait(timeout=15) is not None
        assert "draining" in served.output(limit=1_000_000)


async def test_while_draining_new_requests_get_503_and_readyz_says_so():
    app = build([fake("m")])
    async with running(app) as client:
        assert (await client.post("/v1/chat/completions", json=chat("m"), headers=AUTH)).status_code == 200
        app.state.runtime.draining = True
        r = await client.post("/v1/chat/completions", json=chat("m"), headers=AUTH)
        assert r.status_code == 503
        assert r.headers["connection"] == "close"
        assert r.json()["error"]["code"] == "overloaded"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert (await client.get("/healthz")).status_code == 200
