"""Shared fixtures: apps built in-process from a settings dict, and clients that call them."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from modelrail.app import create_app
from modelrail.settings import settings_from_dict
from tests.secrets_registry import SecretsGuard, guard_session

pytest_plugins = ["tests.keys_fixtures"]

MASTER_KEY = "mr-test-master-key-0123456789"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def fake_models(**overrides: Any) -> list[dict[str, Any]]:
    entry = {"name": "fake-chat", "provider": "fake", "reply": "The quick brown fox jumps over the lazy dog."}
    entry.update(overrides)
    return [entry]


def make_settings(models: list[dict[str, Any]] | None = None, **sections: Any) -> Any:
    """Settings for an in-process app. Its files (key store, ledger journal) go to a fresh temporary
    folder unless ``data_dir`` is given, so a test never touches the user's data directory."""
    data: dict[str, Any] = {"auth": {"master_key": MASTER_KEY}, "models": models or fake_models()}
    data.update(sections)
    data.setdefault("data_dir", tempfile.mkdtemp(prefix="modelrail-test-"))
    return settings_from_dict(data, env={})


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and an httpx client calling it through ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelrail.test", timeout=30) as client:
            yield client


AppFactory = Callable[..., Any]


@pytest.fixture(scope="session", autouse=True)
def secrets_guard() -> Iterator[SecretsGuard]:
    """Every test's logs, and every subprocess server's output, are searched for secrets."""
    yield from guard_session()


@pytest.fixture
def app_factory() -> AppFactory:
    def build(models: list[dict[str, Any]] | None = None, **sections: Any) -> Starlette:
        return create_app(make_settings(models, **sections))

    return build


@pytest.fixture
async def app() -> Starlette:
    return create_app(make_settings())


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as c:
        yield c


def fake_provider(app: Starlette, alias: str = "fake-chat", index: int = 0) -> Any:
    return app.state.runtime.router.deployments(alias)[index].provider
