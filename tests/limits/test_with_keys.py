"""Limits and budgets of real keys and teams, made through the admin API, enforced and recorded."""

from __future__ import annotations

import asyncio

from tests.conftest import running
from tests.metering_support import MASTER_KEY, build_app, chat, ledger_rows

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
FAKE = [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}]
PRICE = {"input": 1000.0, "output": 1000.0}  # $0.001 per token


async def test_key_and_team_limits_from_the_store(tmp_path):
    app = build_app(
        tmp_path, FAKE,
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"},
        pricing={"overrides": {"fake-chat": PRICE}},
    )  # fmt: skip
    async with running(app) as client:
        r = await client.post(
            "/admin/v1/teams", json={"name": "payments", "budget": {"usd": 0.05, "period": "day"}}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/admin/v1/keys", json={"name": "svc", "team": "payments", "limits": {"rpm": 4}}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        key = r.json()
        auth = {"authorization": f"Bearer {key['secret']}"}
        first = await client.post("/v1/chat/completions", json=chat(max_tokens=3), headers=auth)
        assert first.status_code == 200, first.text
        assert first.headers["x-ratelimit-limit-requests"] == "4"
        assert float(first.headers["x-modelrail-cost-usd"]) > 0
        codes = [
            (await client.post("/v1/chat/completions", json=chat(max_tokens=3), headers=auth)).status_code
            for _ in range(5)
        ]
        assert codes.count(429) >= 2 and codes[:3] == [200, 200, 200]
        # The team's budget ($0.05 a day, about $0.008 a request) binds its other keys too.
        r = await client.post("/admin/v1/keys", json={"name": "batch", "team": "payments"}, headers=ADMIN)
        other = {"authorization": f"Bearer {r.json()['secret']}"}
        responses = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=chat(max_tokens=3), headers=other) for _ in range(10))
        )
        refused = [r for r in responses if r.status_code == 429]
        assert refused and all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
    rows = await ledger_rows(tmp_path / "ledger.db")
    assert sum(r["cost_usd"] for r in rows) <= 0.05
    assert len([r for r in rows if r["key_id"] == key["id"]]) == 4
    assert {r["team_id"] for r in rows} == {key["team_id"]} and key["team_id"]
