"""kill -9 under load, restart: every request whose response the client received has exactly one record."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from tests.metering_support import MASTER_KEY, chat, ledger_rows, serve, wait_ready, write_yaml

pytestmark = pytest.mark.slow
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


async def _load(url: str, seconds: float, concurrency: int) -> list[tuple[str, float]]:
    """Requests until the server dies; (x-request-id, time the response finished) of each 200."""
    done: list[tuple[str, float]] = []
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=5, limits=limits) as client:

        async def worker(i: int) -> None:
            while time.monotonic() < stop_at:
                try:
                    body = chat(stream=True) if i % 4 == 0 else chat()
                    r = await client.post("/v1/chat/completions", json=body)
                    r.read()
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200 and (i % 4 != 0 or r.text.rstrip().endswith("[DONE]")):
                    done.append((r.headers["x-request-id"], time.monotonic()))

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done


def test_kill_9_loses_no_finished_request(tmp_path):
    config = write_yaml(
        tmp_path / "modelrail.yaml",
        {
            "models": [{"name": "fake-chat", "provider": "fake", "reply": "one two three", "latency": 0.002}],
            "ledger": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
                "journal_dir": str(tmp_path / "journal"),
                # The database writer waits long, so the records at the kill are in the journal only.
                "flush_interval_ms": 3000,
                "batch_size": 100000,
            },
            "server": {"log_level": "warning"},
        },
    )
    with serve(config, tmp_path / "data") as served:
        loop = asyncio.new_event_loop()
        try:
            load = loop.create_task(_load(served.url, 30, 32))
            loop.run_until_complete(asyncio.sleep(2.0))
            os.kill(served.process.pid, signal.SIGKILL)
            served.process.wait(5)
            done = loop.run_until_complete(load)
        finally:
            loop.close()
    # Every answer the client read in full: each record is written to the
    # journal before its response leaves, so none may be missing.
    finished = [rid for rid, _ in done]
    assert len(finished) > 100
    before_restart = asyncio.run(ledger_rows(tmp_path / "ledger.db"))
    assert len(before_restart) < len(finished)  # the journal is what saves the rest
    with serve(config, tmp_path / "data") as served:
        wait_ready(served.url)
    rows = asyncio.run(ledger_rows(tmp_path / "ledger.db"))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["request_id"]] = counts.get(row["request_id"], 0) + 1
    missing = [rid for rid in finished if rid not in counts]
    assert not missing, f"{len(missing)} of {len(finished)} finished requests have no record"
    assert all(n == 1 for n in counts.values()), "a request has two records"
