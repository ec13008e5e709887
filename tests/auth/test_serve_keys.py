"""Real ``modelrail serve --workers 2`` processes sharing one database: revocation reaches every
worker within a second, and the CLI works on the database and against the server's admin API."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from modelrail.cli import app as cli
from modelrail.testing.servers import Served, free_port, serve_subprocess
from tests.keys_support import MASTER_KEY, PEPPER, bearer, unique
from tests.metering_support import workers_seen
from tests.secrets_registry import SecretsGuard

pytestmark = pytest.mark.slow
ADMIN = bearer(MASTER_KEY)


def write_config(tmp: Path, db_url: str) -> Path:
    config = {
        "auth": {"master_key": MASTER_KEY, "key_pepper": PEPPER},
        "database": {"url": db_url},
        # Limits are not under test here; per-worker state lets two workers start without Redis.
        "state": {"allow_per_worker": True},
        "models": [{"name": "fake-chat", "provider": "fake", "reply": "One two three."}],
    }
    path = tmp / "modelrail.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def served(db_url: str, tmp_path: Path, secrets_guard: SecretsGuard) -> Iterator[tuple[Served, Path]]:
    config = write_config(tmp_path, db_url)
    port = free_port()
    args = [sys.executable, "-m", "modelrail", "serve", "--config", str(config), "--port", str(port), "--workers", "2"]
    env = {"MODELRAIL_DATA_DIR": str(tmp_path / "data")}
    with serve_subprocess(args, port, health_path="/healthz", env=env, timeout=60) as server:
        yield server, config
        secrets_guard.add_text(server.output(limit=1_000_000))


def fresh(url: str, path: str, secret: str) -> int:
    """One request on a new connection, so the kernel may hand it to either worker."""
    with httpx.Client(timeout=10) as c:
        return c.get(url + path, headers={**bearer(secret), "connection": "close"}).status_code


def test_revocation_reaches_every_worker_within_a_second(served, secrets_guard: SecretsGuard) -> None:
    server, _ = served
    url = server.url
    with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as admin:
        team = admin.post("/admin/v1/teams", json={"name": unique("team")}).json()
        key = admin.post("/admin/v1/keys", json={"name": "k", "team": team["id"]}).json()
        secret = secrets_guard.add(key["secret"])
        # Warm both workers' caches.
        assert all(fresh(url, "/v1/models", secret) == 200 for _ in range(30))
        assert workers_seen(url, key=secret) == 2  # both workers answer: the revocation must reach each
        r = admin.post(f"/admin/v1/keys/{key['id']}/revoke")
        assert r.status_code == 200
        revoked = time.monotonic()

    refused_after: float | None = None
    while time.monotonic() - revoked < 1.0:
        if all(fresh(url, "/v1/models", secret) == 401 for _ in range(10)):
            refused_after = time.monotonic() - revoked
            break
    assert refused_after is not None, "a worker still accepted the key a second after its revocation"
    # And from then on, every worker refuses it.
    assert all(fresh(url, "/v1/models", secret) == 401 for _ in range(30))


def test_cli_on_the_database_and_against_the_server(served, secrets_guard: SecretsGuard) -> None:
    server, config = served
    runner = CliRunner()
    remote = ["--url", server.url, "--admin-key", MASTER_KEY, "--json"]
    local = ["--config", str(config), "--json"]

    def run(*args: str) -> object:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return orjson.loads(result.stdout)

    team_name = unique("cli-team")
    team = run("teams", "create", team_name, "--rpm", "60", "--budget-usd", "5", "--budget-period", "day", *remote)
    assert team["limits"]["rpm"] == 60 and team["budget"] == {
        "usd": 5.0,
        "period": "day",
        "alert_thresholds": [0.5, 0.8, 1.0],
    }
    assert team_name in [t["name"] for t in run("teams", "list", *local)]

    args = ["keys", "create", "--team", team_name, "--models", "fake-*,smollm2-*", "--env", "prod", "--expires", "30d"]
    made = run(*args, *remote)
    secret = secrets_guard.add(made["secret"])
    assert made["models"] == ["fake-*", "smollm2-*"] and made["env"] == "prod" and made["expires_at"]
    assert fresh(server.url, "/v1/models", secret) == 200

    listed = run("keys", "list", "--team", team_name, *local)
    assert [k["id"] for k in listed] == [made["id"]] and "secret" not in listed[0]

    rotated = run("keys", "rotate", made["display"], "--grace", "10m", *local)
    new_secret = secrets_guard.add(rotated["secret"])
    time.sleep(0.6)  # the server learns of a change made by another process by polling
    assert fresh(server.url, "/v1/models", secret) == 200, "the old secret works during its grace"
    assert fresh(server.url, "/v1/models", new_secret) == 200

    assert run("keys", "revoke", made["id"], *local)["status"] == "revoked"
    time.sleep(1.0)
    assert fresh(server.url, "/v1/models", new_secret) == 401

    listing = ["keys", "list", "--team", team_name, "--url", server.url, "--admin-key", MASTER_KEY]
    table = runner.invoke(cli, listing, env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "revoked" in table.stdout and secret not in table.stdout
    denied = runner.invoke(cli, ["teams", "list", "--url", server.url, "--admin-key", new_secret])
    assert denied.exit_code == 1 and "401" in denied.output
