"""Helpers for the limits, budgets and usage tests: apps whose caller has given limits and budgets,
a Redis prefix of their own, and reading the ledger."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from modelrail.app import create_app
from modelrail.auth.principal import Principal
from modelrail.settings import settings_from_dict
from modelrail.usage.ledger_table import usage_ledger

MASTER_KEY = "mr-test-master-key-0123456789"
REDIS_URL = os.environ.get("MODELRAIL_TEST_REDIS", "redis://127.0.0.1:6379/0")
MSG = [{"role": "user", "content": "hello there"}]


class StubAuth:
    """Every caller is ``principal`` (or the one its bearer token names): limits and budgets without a key store."""

    def __init__(self, principal: Principal, others: dict[str, Principal] | None = None) -> None:
        self.principal = principal
        self.others = others or {}

    async def authenticate(self, credential: str | None) -> Principal:
        return self.others.get(credential or "", self.principal)

    async def close(self) -> None:
        return None


def redis_available() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def require_redis() -> None:
    """Skip without Redis, except in CI, where a missing Redis is a failure."""
    if redis_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"Redis is required in CI (CI=true) but {REDIS_URL} does not answer")
    pytest.skip(f"no Redis at {REDIS_URL} (set MODELRAIL_TEST_REDIS, or start redis-server)")


def unique_prefix() -> str:
    return f"modelrail-test:{uuid.uuid4().hex[:12]}:"


def clean_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
    finally:
        client.close()


def settings_dict(tmp: Path, models: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "auth": {"master_key": MASTER_KEY},
        "data_dir": str(tmp / "data"),
        "models": models,
        "ledger": {"database_url": f"sqlite+aiosqlite:///{tmp / 'ledger.db'}", "journal_dir": str(tmp / "journal")},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return data


def build_app(
    tmp: Path, models: list[dict[str, Any]], principal: Principal | None = None, **sections: Any
) -> Starlette:
    app = create_app(settings_from_dict(settings_dict(tmp, models, **sections), env={}))
    if principal is not None:
        app.state.runtime.auth = StubAuth(principal)
    return app


def chat(model: str = "fake-chat", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MSG, **extra}


async def ledger_rows(db_path: Path) -> list[dict[str, Any]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(sa.select(usage_ledger))
            return [dict(r._mapping) for r in result]
    finally:
        await engine.dispose()


async def away_from_minute_edge(margin: float = 4.0) -> None:
    """Fixed one-minute windows: start a test that must fit in one window early enough in it."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.05)


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


def serve(config: Path, data_dir: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> Any:
    """``modelrail serve`` in a subprocess on loopback; yields once /readyz says ready."""
    import sys

    from modelrail.testing.servers import free_port, serve_subprocess

    port = port or free_port()
    args = [sys.executable, "-m", "modelrail", "serve", "--config", str(config), "--port", str(port), *extra_args]
    env = {"MODELRAIL_DATA_DIR": str(data_dir), "MODELRAIL_MASTER_KEY": MASTER_KEY}
    return serve_subprocess(args, port, health_path="/readyz", env=env, timeout=30)


def wait_ready(url: str, timeout: float = 20.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never became ready")


def workers_seen(url: str, *, key: str = MASTER_KEY, tries: int = 200) -> int:
    """How many workers answered, up to two, over fresh connections (each request id starts with its
    worker's own random prefix of 16 hex digits). A burst on kept-alive connections may all land on
    the worker that woke first, so each request here opens its own connection."""
    prefixes: set[str] = set()
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        for _ in range(tries):
            r = client.get("/v1/models", headers={"connection": "close"})
            prefixes.add(r.headers["x-request-id"][:16])
            if len(prefixes) == 2:
                break
    return len(prefixes)
