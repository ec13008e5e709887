"""Per-hour and per-day limits of keys and teams, end to end: set through the admin API and the
CLI, stored, read back, enforced; and a database made before they existed upgraded in place."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from modelrail.auth.key_secret import KeyHasher
from modelrail.cli import app as cli
from modelrail.store.db import Database
from modelrail.store.keys import KeyStore
from modelrail.store.migrate import current_revision, head_revision, upgrade
from modelrail.store.models import UTCDateTime
from modelrail.store.views import LimitsIn, TeamUpdate
from tests.keys_support import BACKENDS, MASTER_KEY, PEPPER, bearer, key_app, postgres_database, running, unique
from tests.metering_support import away_from_minute_edge
from tests.secrets_registry import SecretsGuard

ADMIN = bearer(MASTER_KEY)
CHAT = {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]}
DAY = 86400.0


def seconds_left(duration: str) -> int:
    """``"20h3m7s"``, ``"3m0s"``, ``"7s"`` in seconds."""
    h, _, rest = duration.rpartition("h")
    m, _, s = rest.rpartition("m")
    return int(h or 0) * 3600 + int(m or 0) * 60 + int(s.rstrip("s"))


async def test_day_limits_through_the_admin_api(db_url: str, tmp_path: Path, secrets_guard: SecretsGuard) -> None:
    app = key_app(db_url, tmp_path)
    async with running(app) as client:
        r = await client.post(
            "/admin/v1/teams", json={"name": unique("daily"), "limits": {"tpd": 100_000, "rph": 50}}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        team = r.json()
        assert team["limits"]["tpd"] == 100_000 and team["limits"]["rph"] == 50 and team["limits"]["rpm"] is None
        r = await client.post(
            "/admin/v1/keys", json={"name": "svc", "team": team["id"], "limits": {"rpd": 3}}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        key = r.json()
        secrets_guard.add(key["secret"])
        assert key["limits"]["rpd"] == 3
        # A partial patch keeps the other limits; 0 is refused (it would refuse everything).
        r = await client.patch(f"/admin/v1/keys/{key['id']}", json={"limits": {"tph": 9000}}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["limits"]["rpd"] == 3 and r.json()["limits"]["tph"] == 9000
        r = await client.patch(f"/admin/v1/keys/{key['id']}", json={"limits": {"rpd": 0}}, headers=ADMIN)
        assert r.status_code in (400, 422)
        read = (await client.get(f"/admin/v1/keys/{key['id']}", headers=ADMIN)).json()
        assert read["limits"]["rpd"] == 3 and read["limits"]["tph"] == 9000
        # The admin API documents them, from the same schema.
        spec = (await client.get("/admin/v1/openapi.json", headers=ADMIN)).json()
        props = spec["components"]["schemas"]["LimitsIn"]["properties"]
        assert {"rpm", "tpm", "max_concurrency", "rph", "tph", "rpd", "tpd"} <= props.keys()
        assert "per day" in props["rpd"]["description"]

        await away_from_minute_edge()
        responses = [
            await client.post("/v1/chat/completions", json=CHAT, headers=bearer(key["secret"])) for _ in range(4)
        ]
    assert [r.status_code for r in responses] == [200, 200, 200, 429], [r.text for r in responses]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in responses[:3]] == ["2", "1", "0"]
    assert responses[0].headers["x-ratelimit-limit-requests"] == "3"
    # Tokens: the key's 9000 an hour leaves less room than its team's 100000 a day.
    assert responses[0].headers["x-ratelimit-limit-tokens"] == "9000"
    assert seconds_left(responses[0].headers["x-ratelimit-reset-tokens"]) <= 3600
    refused = responses[3]
    assert "requests per day on key" in refused.json()["error"]["message"]
    assert abs(int(refused.headers["retry-after"]) - (DAY - time.time() % DAY)) <= 5


def test_day_limits_through_the_cli(db_url: str, tmp_path: Path, secrets_guard: SecretsGuard) -> None:
    config = tmp_path / "modelrail.yaml"
    config.write_text(yaml.safe_dump({"auth": {"key_pepper": PEPPER}, "database": {"url": db_url}}))
    runner = CliRunner()
    c = ["--config", str(config)]
    name = unique("cli-daily")

    made = runner.invoke(
        cli, ["teams", "create", name, "--rpd", "1000", "--tpd", "500000", "--rpm", "60", "--json", *c]
    )
    assert made.exit_code == 0, made.output
    assert orjson.loads(made.stdout)["limits"] | {} == {
        "rpm": 60, "tpm": None, "max_concurrency": None, "rph": None, "tph": None, "rpd": 1000, "tpd": 500000,
    }  # fmt: skip
    created = runner.invoke(cli, ["keys", "create", "--team", name, "--rpd", "3", "--tph", "900", "--json", *c])
    assert created.exit_code == 0, created.output
    secrets_guard.add(orjson.loads(created.stdout)["secret"])
    rows = orjson.loads(runner.invoke(cli, ["keys", "list", "--team", name, "--json", *c]).stdout)
    assert [(r["limits"]["rpd"], r["limits"]["tph"], r["limits"]["rpm"]) for r in rows] == [(3, 900, None)]
    table = runner.invoke(cli, ["teams", "list", *c], env={"COLUMNS": "250"})
    assert "rpd=1000" in table.stdout and "tpd=500000" in table.stdout
    assert runner.invoke(cli, ["keys", "create", "--team", name, "--rpd", "0", *c]).exit_code == 2
    assert "--rpd" in runner.invoke(cli, ["teams", "create", "--help"], env={"COLUMNS": "250"}).stdout


@pytest.fixture(params=BACKENDS)
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the shared PostgreSQL one is already migrated)."""
    if request.param == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"


async def test_a_database_from_before_gets_the_columns_and_keeps_its_limits(fresh_db_url: str) -> None:
    db = Database(fresh_db_url, migrate=False)
    try:
        await upgrade(db.engine, "0002_usage_ledger")
        now = datetime.now(UTC)
        teams = sa.table(
            "teams",
            sa.column("id", sa.String), sa.column("name", sa.String), sa.column("metadata", sa.JSON),
            sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime()),
            sa.column("rpm", sa.Integer), sa.column("tpm", sa.Integer), sa.column("max_concurrency", sa.Integer),
            sa.column("budget_usd", sa.Float), sa.column("budget_period", sa.String),
            sa.column("budget_alerts", sa.JSON),
        )  # fmt: skip
        async with db.engine.begin() as conn:
            await conn.execute(
                teams.insert().values(
                    id="team_old", name="old", metadata={}, created_at=now, updated_at=now, rpm=60, tpm=None,
                    max_concurrency=4, budget_usd=None, budget_period="month", budget_alerts=[0.5, 0.8, 1.0],
                )
            )  # fmt: skip

        before, after = await upgrade(db.engine)
        assert (before, after) == ("0002_usage_ledger", head_revision())
        assert await current_revision(db.engine) == head_revision()

        store = KeyStore(db, KeyHasher(PEPPER))
        old = await store.get_team("old")
        assert (old.limits.rpm, old.limits.max_concurrency, old.limits.rpd, old.limits.tpd) == (60, 4, None, None)
        patched = await store.update_team("old", TeamUpdate(limits=LimitsIn(rpd=500)), actor="tester")
        assert (patched.limits.rpm, patched.limits.rpd) == (60, 500)
        assert (await store.get_team("team_old")).limits.rpd == 500
    finally:
        await db.close()
