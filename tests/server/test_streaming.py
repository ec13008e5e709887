"""Streaming on a real server: client disconnects cancel the upstream; several workers serve."""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path

import httpx
import pytest

from modelrail.testing.mock_openai import MockConfig, MockOpenAI
from modelrail.testing.servers import serve_in_thread
from tests.metering_support import workers_seen
from tests.server.conftest import MASTER_KEY, serve_modelrail, write_config

pytestmark = pytest.mark.slow
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def test_client_disconnect_cancels_upstream_request(tmp_path):
    slow = MockOpenAI(MockConfig(api_key="sk-upstream-secret-9876", chunks=100, chunk_delay=0.05))
    with serve_in_thread(slow) as upstream, serve_modelrail(write_config(tmp_path, upstream), tmp_path) as served:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", served.url + "/v1/chat/completions", json=body, headers=AUTH) as r,
        ):
            assert r.status_code == 200
            lines = r.iter_lines()
            got = [next(lines) for _ in range(4)]
            assert any(line.startswith("data: ") for line in got)
            assert slow.active == 1
        # The client has gone; the 100-chunk stream (5 s) is abandoned upstream too.
        deadline = time.monotonic() + 2
        while slow.active and time.monotonic() < deadline:
            time.sleep(0.02)
        assert slow.active == 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to count worker processes")
def test_two_workers_serve_concurrently(tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:9")
    # Several workers without Redis must opt out of shared limits, or serve refuses to start.
    config.write_text(config.read_text() + "state: {allow_per_worker: true}\n")
    with serve_modelrail(config, tmp_path, workers=2) as served:
        # uvicorn's supervisor forks one process per worker.
        deadline = time.monotonic() + 10
        workers: list[int] = []
        while time.monotonic() < deadline:
            workers = [p for p in _children(served.process.pid) if os.path.exists(f"/proc/{p}")]
            if len(workers) >= 2:
                break
            time.sleep(0.1)
        assert len(workers) >= 2

        body = {"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "stream": True}

        def one(_: int) -> str:
            with httpx.Client(timeout=10) as c:
                r = c.post(served.url + "/v1/chat/completions", json=body, headers=AUTH)
                assert r.status_code == 200
                return r.text

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            texts = list(pool.map(one, range(64)))
        assert all(t.rstrip().endswith("data: [DONE]") for t in texts)
        assert workers_seen(served.url, key=MASTER_KEY) == 2  # both workers answer, not only exist


@pytest.mark.parametrize("stream", [False, True])
def test_client_leaving_before_first_token_cancels_upstream(tmp_path, stream):
    # The upstream takes 5 s to its first token; the client gives up after 1 s.
    slow = MockOpenAI(MockConfig(api_key="sk-upstream-secret-9876", ttft=5.0))
    with serve_in_thread(slow) as upstream, serve_modelrail(write_config(tmp_path, upstream), tmp_path) as served:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": stream}

        def call() -> None:
            with httpx.Client(timeout=1.0) as client, pytest.raises(httpx.ReadTimeout):
                client.post(served.url + "/v1/chat/completions", json=body, headers=AUTH)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            caller = pool.submit(call)
            deadline = time.monotonic() + 1
            while slow.active == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert slow.active == 1  # the call reached the upstream while the client waited
            caller.result()
        gone = time.monotonic()
        while slow.active and time.monotonic() < gone + 2:
            time.sleep(0.02)
        assert slow.active == 0  # well before the upstream's 5 s: modelrail cancelled it
        assert "status=499" in served.output()
