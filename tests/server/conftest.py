"""A real ``modelrail serve`` on loopback, in front of the mock OpenAI upstream."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from modelrail.testing.mock_openai import MockConfig, MockOpenAI
from modelrail.testing.servers import Served, free_port, serve_in_thread, serve_subprocess

MASTER_KEY = "mr-test-server-key-0123456789"
UPSTREAM_KEY = "sk-upstream-secret-9876"


@pytest.fixture(scope="module")
def mock() -> Iterator[tuple[MockOpenAI, str]]:
    app = MockOpenAI(MockConfig(api_key=UPSTREAM_KEY, chunks=8))
    with serve_in_thread(app) as url:
        yield app, url


def write_config(tmp: Path, upstream: str, extra_models: list[dict] | None = None) -> Path:
    models = [
        {
            "name": "gpt-4o-mini",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_base": upstream + "/v1",
            "api_key": "${UPSTREAM_KEY}",
        },
        {"name": "fake-chat", "provider": "fake", "reply": "One two three four five."},
        *(extra_models or []),
    ]
    path = tmp / "modelrail.yaml"
    path.write_text(yaml.safe_dump({"auth": {"master_key": MASTER_KEY}, "models": models}))
    return path


def serve_modelrail(config: Path, data_dir: Path, workers: int = 1) -> object:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "modelrail",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = {"UPSTREAM_KEY": UPSTREAM_KEY, "MODELRAIL_DATA_DIR": str(data_dir)}
    return serve_subprocess(args, port, health_path="/healthz", env=env, timeout=30)


@pytest.fixture(scope="module")
def server(mock, tmp_path_factory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("server")
    with serve_modelrail(write_config(tmp, mock[1]), tmp / "data") as served:  # type: ignore[attr-defined]
        yield served
