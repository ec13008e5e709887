"""Per-deployment rpm/tpm: a deployment at its quota is skipped, and when every one is, a 429 with
Retry-After and no upstream call; on Redis, several app instances keep one deployment's quota."""

from __future__ import annotations

from typing import Any

import pytest

from modelrail.app import create_app
from modelrail.settings import ConfigError
from tests.conftest import AUTH, make_settings, running
from tests.metering_support import REDIS_URL, away_from_minute_edge, clean_redis, require_redis, unique_prefix
from tests.router.helpers import build, chat, deps, fake

URL = "/v1/chat/completions"


def cheap_first(**a: Any) -> list[dict[str, Any]]:
    """Two deployments of ``m``; with lowest_cost the first (``m#0``) is always tried first."""
    return [fake("m", cost=1.0, **a), fake("m", cost=2.0)]


async def test_a_deployment_at_its_rpm_is_skipped_for_the_next_one():
    app = build(cheap_first(rpm=2), strategy="lowest_cost")
    limited, other = deps(app, "m")
    await away_from_minute_edge()
    async with running(app) as client:
        served = []
        for i in range(4):
            r = await client.post(URL, json=chat("m", stream=i == 1), headers=AUTH)
            assert r.status_code == 200, r.text
            served.append(r.headers["x-modelrail-deployment"])
        assert served == [limited.id, limited.id, other.id, other.id]
        assert (limited.provider.calls, other.provider.calls) == (2, 2)
        assert r.headers["x-modelrail-fallback"] == "false"
        rows = {row["id"]: row for row in (await client.get("/admin/v1/deployments", headers=AUTH)).json()["data"]}
        assert (rows[limited.id]["rpm"], rows[other.id]["rpm"]) == (2, None)


async def test_every_deployment_at_its_rpm_is_a_429_without_an_upstream_call():
    app = build([fake("m", rpm=1), fake("m", rpm=1)])
    await away_from_minute_edge()
    async with running(app) as client:
        ok = [await client.post(URL, json=chat("m"), headers=AUTH) for _ in range(2)]
        assert [r.status_code for r in ok] == [200, 200]
        assert {r.headers["x-modelrail-deployment"] for r in ok} == {"m#0", "m#1"}
        calls = [d.provider.calls for d in deps(app, "m")]
        for stream in (False, True):
            r = await client.post(URL, json=chat("m", stream=stream), headers=AUTH)
            assert r.status_code == 429
            error = r.json()["error"]
            assert (error["code"], error["type"]) == ("rate_limit_exceeded", "rate_limit_error")
            assert 1 <= int(r.headers["retry-after"]) <= 60
        assert [d.provider.calls for d in deps(app, "m")] == calls


async def test_a_limited_alias_falls_back_to_its_fallback_alias():
    app = build([fake("m", rpm=1), fake("backup")], fallbacks={"m": ["backup"]})
    await away_from_minute_edge()
    async with running(app) as client:
        first = await client.post(URL, json=chat("m"), headers=AUTH)
        second = await client.post(URL, json=chat("m"), headers=AUTH)
    assert first.headers["x-modelrail-deployment"] == "m#0"
    assert second.status_code == 200
    assert second.headers["x-modelrail-deployment"] == "backup#0"
    assert second.headers["x-modelrail-fallback"] == "backup"


async def test_tpm_is_reserved_from_the_estimate_and_corrected_to_the_usage():
    # The reservation is the prompt estimate plus max_tokens; the fake then answers a few tokens.
    app = build(cheap_first(tpm=150), strategy="lowest_cost")
    limited, other = deps(app, "m")
    await away_from_minute_edge()
    async with running(app) as client:
        big = await client.post(URL, json={**chat("m"), "max_tokens": 200}, headers=AUTH)
        assert big.headers["x-modelrail-deployment"] == other.id
        # 100 + prompt fits once; the second fits only because the first was corrected to its usage.
        for stream in (False, True, False):
            r = await client.post(URL, json={**chat("m", stream=stream), "max_tokens": 100}, headers=AUTH)
            assert r.headers["x-modelrail-deployment"] == limited.id
    assert limited.provider.calls == 3


def test_deployment_limits_are_validated():
    with pytest.raises(ConfigError, match="rpm"):
        make_settings([fake("m", rpm=0)])
    with pytest.raises(ConfigError, match="tpm"):
        make_settings([fake("m", tpm=-5)])


async def test_two_instances_on_redis_keep_one_deployment_rpm_exactly():
    require_redis()
    prefix = unique_prefix()
    state = {"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix}
    apps = [create_app(make_settings([fake("m", rpm=3)], state=state)) for _ in range(2)]
    try:
        await away_from_minute_edge()
        async with running(apps[0]) as one, running(apps[1]) as two:
            statuses = [(await c.post(URL, json=chat("m"), headers=AUTH)).status_code for c in [one, two] * 3]
    finally:
        clean_redis(prefix)
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert sum(deps(app, "m")[0].provider.calls for app in apps) == 3
