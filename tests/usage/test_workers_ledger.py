"""Several workers on one ledger: every request recorded once, all flushed at a graceful stop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.metering_support import (
    MASTER_KEY,
    REDIS_URL,
    chat,
    clean_redis,
    ledger_rows,
    require_redis,
    serve,
    unique_prefix,
    workers_seen,
    write_yaml,
)

pytestmark = pytest.mark.slow


async def _send(url: str, n: int) -> set[str]:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=10) as c:
        responses = await asyncio.gather(*(c.post("/v1/chat/completions", json=chat()) for _ in range(n)))
    assert all(r.status_code == 200 for r in responses)
    return {r.headers["x-request-id"] for r in responses}


def test_two_workers_one_ledger(tmp_path):
    require_redis()
    prefix = unique_prefix()
    config = write_yaml(
        tmp_path / "w.yaml",
        {
            "models": [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}],
            "state": {"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix},
            "ledger": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
                "journal_dir": str(tmp_path / "journal"),
                "flush_interval_ms": 60000,  # nothing reaches the database before the stop flushes it
            },
            "server": {"log_level": "warning"},
        },
    )
    try:
        with serve(config, tmp_path / "data", extra_args=("--workers", "2")) as served:
            ids = asyncio.run(_send(served.url, 60))
            assert workers_seen(served.url) == 2  # both workers are up and answering
    finally:
        clean_redis(prefix)
    rows = asyncio.run(ledger_rows(tmp_path / "ledger.db"))
    assert sorted(r["request_id"] for r in rows) == sorted(ids)
    assert not list((tmp_path / "journal").glob("*.jsonl"))
