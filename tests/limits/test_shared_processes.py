"""Two real ``modelrail serve`` processes sharing Redis enforce one RPM limit exactly; several
workers without Redis refuse to start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from tests.metering_support import (
    MASTER_KEY,
    REDIS_URL,
    chat,
    clean_redis,
    require_redis,
    serve,
    unique_prefix,
    write_yaml,
)

pytestmark = pytest.mark.slow
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
RPM = 12


def _config(tmp_path, name: str, prefix: str):
    return write_yaml(
        tmp_path / f"{name}.yaml",
        {
            "models": [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}],
            "state": {"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix},
            "limits": {"models": {"fake-chat": {"rpm": RPM}}},
            "ledger": {"database_url": f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}"},
            "server": {"log_level": "warning"},
        },
    )


async def _burst(urls: list[str], n: int) -> list[int]:
    async with httpx.AsyncClient(headers=AUTH, timeout=10) as client:
        responses = await asyncio.gather(
            *(client.post(urls[i % len(urls)] + "/v1/chat/completions", json=chat()) for i in range(n))
        )
    return [r.status_code for r in responses]


def test_two_servers_share_one_rpm_limit(tmp_path):
    require_redis()
    prefix = unique_prefix()
    try:
        a_cfg, b_cfg = _config(tmp_path, "a", prefix), _config(tmp_path, "b", prefix)
        with serve(a_cfg, tmp_path / "a") as a, serve(b_cfg, tmp_path / "b") as b:
            # One fixed one-minute window: start well inside it.
            left = 60 - time.time() % 60
            if left < 8:
                time.sleep(left + 0.1)
            codes = asyncio.run(_burst([a.url, b.url], 3 * RPM))
        assert codes.count(200) == RPM, codes
        assert codes.count(429) == 2 * RPM
    finally:
        clean_redis(prefix)


def test_several_workers_without_redis_refuse_to_start(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", {"models": [{"name": "fake-chat", "provider": "fake"}]})
    out = subprocess.run(
        [sys.executable, "-m", "modelrail", "serve", "--config", str(config), "--workers", "2", "--port", "9"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"MODELRAIL_DATA_DIR": str(tmp_path), "MODELRAIL_MASTER_KEY": MASTER_KEY, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2
    assert "redis" in out.stderr and "--workers 2" in out.stderr.replace("\n", " ")
