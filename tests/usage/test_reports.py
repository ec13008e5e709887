"""Usage and spend reports: the admin API and ``modelrail usage`` / ``modelrail spend``."""

from __future__ import annotations

import asyncio
import csv
import io

import orjson
from typer.testing import CliRunner

from modelrail.cli import app as cli
from tests.conftest import running
from tests.metering_support import MASTER_KEY, build_app, chat, settings_dict, write_yaml

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
MODELS = [
    {"name": "fake-chat", "provider": "fake", "reply": "one two three"},
    {"name": "other", "provider": "fake", "reply": "four five"},
]
PRICING = {"overrides": {"fake-chat": {"input": 1000.0, "output": 1000.0}}}


async def _traffic(tmp_path):
    app = build_app(tmp_path, MODELS, pricing=PRICING)
    async with running(app) as client:
        for _ in range(3):
            assert (await client.post("/v1/chat/completions", json=chat(), headers=AUTH)).status_code == 200
        assert (await client.post("/v1/chat/completions", json=chat("other"), headers=AUTH)).status_code == 200
        r = await client.get("/admin/v1/usage?by=model&since=1d", headers=AUTH)
        assert r.status_code == 200, r.text
        by_model = {row["group"]: row for row in r.json()["data"]}
        assert by_model["fake-chat"]["requests"] == 3 and by_model["other"]["requests"] == 1
        assert by_model["fake-chat"]["cost_usd"] > 0 and by_model["other"]["cost_usd"] == 0
        spend = await client.get("/admin/v1/spend?period=day", headers=AUTH)
        assert spend.status_code == 200
        assert spend.json()["data"][0]["spend_usd"] == by_model["fake-chat"]["cost_usd"]
        bad = await client.get("/admin/v1/usage?by=nothing", headers=AUTH)
        assert bad.status_code == 400
        assert (await client.get("/admin/v1/usage")).status_code == 401
    return by_model


def test_admin_api_and_cli(tmp_path):
    by_model = asyncio.run(_traffic(tmp_path))
    config = write_yaml(tmp_path / "c.yaml", settings_dict(tmp_path, MODELS, pricing=PRICING))
    runner = CliRunner()
    out = runner.invoke(cli, ["usage", "--config", str(config), "--by", "model", "--since", "7d", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["model"]: r for r in orjson.loads(out.stdout)}
    assert rows["fake-chat"]["requests"] == 3
    assert rows["fake-chat"]["cost_usd"] == by_model["fake-chat"]["cost_usd"]
    out = runner.invoke(cli, ["usage", "--config", str(config), "--by", "day", "--csv"])
    assert out.exit_code == 0, out.output
    parsed = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(parsed) == 1 and parsed[0]["requests"] == "4"
    out = runner.invoke(cli, ["usage", "--config", str(config), "--by", "key"])
    assert out.exit_code == 0 and "master" in out.stdout
    out = runner.invoke(cli, ["spend", "--config", str(config), "--json"])
    assert out.exit_code == 0, out.output
    spend = orjson.loads(out.stdout)
    assert spend[0]["scope"] == "key" and spend[0]["spend_usd"] > 0
    out = runner.invoke(cli, ["usage", "--config", str(config), "--since", "yesterday-ish"])
    assert out.exit_code != 0


def test_a_huge_since_means_from_the_beginning() -> None:
    from datetime import UTC, datetime

    from modelrail.usage.reports import parse_since

    assert parse_since("9" * 400 + "d") == datetime.fromtimestamp(0, UTC)
    assert parse_since("99999999999999d") == datetime.fromtimestamp(0, UTC)
