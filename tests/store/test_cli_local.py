"""``modelrail teams`` and ``modelrail keys`` on the database directly (no server)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from modelrail.cli import app as cli
from tests.keys_support import PEPPER
from tests.secrets_registry import SecretsGuard


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "modelrail.yaml"
    path.write_text(yaml.safe_dump({"auth": {"key_pepper": PEPPER}, "database": {"url": db_url}}))
    return path


def test_cli_life_cycle_and_errors(config: Path, secrets_guard: SecretsGuard) -> None:
    runner = CliRunner()
    c = ["--config", str(config)]
    name = "cli-" + config.parent.name[-8:]

    made = runner.invoke(cli, ["teams", "create", name, "--metadata", '{"cc": 7}', "--json", *c])
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli, ["teams", "create", name, *c])
    assert again.exit_code == 1 and "already exists" in again.output

    created = runner.invoke(cli, ["keys", "create", "--team", name, "--endpoints", "chat", "--max-tokens", "9", *c])
    assert created.exit_code == 0, created.output
    secret = secrets_guard.add(created.stdout.strip().splitlines()[-1])
    assert secret.startswith("mr-") and len(secret) == 46

    rows = orjson.loads(runner.invoke(cli, ["keys", "list", "--team", name, "--json", *c]).stdout)
    assert rows[0]["endpoints"] == ["chat"] and rows[0]["max_tokens"] == 9 and rows[0]["created_by"].startswith("cli")

    assert runner.invoke(cli, ["keys", "create", "--expires", "soon", *c]).exit_code == 2
    assert runner.invoke(cli, ["keys", "create", *c]).exit_code == 1, "a regular key needs a team"
    assert runner.invoke(cli, ["keys", "revoke", "key_nope", *c]).exit_code == 1
    assert runner.invoke(cli, ["teams", "list", "--url", "http://127.0.0.1:9"]).exit_code == 2, "--url needs a key"
