"""Helpers for the key store tests: a database per backend, apps with the key store, clients.

PostgreSQL tests need a server on 127.0.0.1:5432 (user postgres, trust auth): each test session
makes its own database ``modelrail_test_<random>`` and drops it after. Without a server they skip,
except under ``CI=true``, where they fail: CI must not pass by checking nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.applications import Starlette

from modelrail.app import create_app
from modelrail.settings import settings_from_dict
from modelrail.store.keys import KeyStore

MASTER_KEY = "mr-test-master-key-keys-0123456789"
PEPPER = "test-pepper-0123456789abcdef"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if not _answers(PG_HOST, PG_PORT):
        reason = f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT}"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for this session; its async URL. Dropped afterwards."""
    import asyncpg

    require_postgres()
    name = "modelrail_test_" + secrets.token_hex(6)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def unique(prefix: str) -> str:
    """Names differ per test, since PostgreSQL tests of one session share a database."""
    return f"{prefix}-{secrets.token_hex(4)}"


def key_settings(db_url: str, data_dir: Path, models: list[dict[str, Any]] | None = None, **auth: Any) -> Any:
    return settings_from_dict(
        {
            "auth": {"master_key": MASTER_KEY, "key_pepper": PEPPER, "key_poll_interval": 0.05, **auth},
            "database": {"url": db_url},
            "data_dir": str(data_dir),
            "models": models
            or [
                {"name": "fake-chat", "provider": "fake", "reply": "One two three."},
                {"name": "other-chat", "provider": "fake", "reply": "Four five six."},
                {"name": "fake-embed", "provider": "fake"},
            ],
        },
        env={},
    )


def key_app(db_url: str, data_dir: Path, **auth: Any) -> Starlette:
    return create_app(key_settings(db_url, data_dir, **auth))


def store_of(app: Starlette) -> KeyStore:
    store: KeyStore = app.state.runtime.key_store
    return store


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelrail.test", timeout=30) as client:
            yield client


def sdk(client: httpx.AsyncClient, api_key: str) -> openai.AsyncOpenAI:
    """The official SDK calling the app through the same in-process transport, without retries."""
    return openai.AsyncOpenAI(api_key=api_key, base_url=str(client.base_url) + "/v1", http_client=client, max_retries=0)


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}
