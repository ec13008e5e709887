"""The admin API (/admin/v1), and keys from the store calling the OpenAI endpoints through the SDK."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest
from starlette.routing import Route

from modelrail.api.admin.app import PREFIX
from modelrail.limits.schema import NAMES
from tests.keys_support import MASTER_KEY, bearer, key_app, running, sdk, unique
from tests.secrets_registry import SecretsGuard

ADMIN = bearer(MASTER_KEY)


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(key_app(db_url, tmp_path)) as c:
        yield c


async def new_team(client: httpx.AsyncClient, **body: object) -> dict:
    r = await client.post("/admin/v1/teams", json={"name": unique("team"), **body}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


async def new_key(client: httpx.AsyncClient, guard: SecretsGuard, **body: object) -> dict:
    r = await client.post("/admin/v1/keys", json={"name": "k", **body}, headers=ADMIN)
    assert r.status_code == 201, r.text
    guard.add(r.json()["secret"])
    return r.json()


async def admin_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    """(method, path) of every admin route, path parameters filled in: those the admin API documents
    and those other modules add to the main app under /admin/."""
    doc = (await client.get(f"{PREFIX}/v1/openapi.json", headers=ADMIN)).json()
    routes = [
        (method.upper(), PREFIX + re.sub(r"\{[^}]+\}", "x", path))
        for path, ops in doc["paths"].items()
        for method in ops
    ]
    app = client._transport.app  # type: ignore[attr-defined]
    for route in app.routes:
        path = getattr(route, "path", "")
        if isinstance(route, Route) and path.startswith(PREFIX + "/"):
            routes += [(m, re.sub(r"\{[^}]+\}", "x", path)) for m in sorted(route.methods or ()) if m != "HEAD"]
    return routes


async def test_team_and_key_crud_over_http(client: httpx.AsyncClient, secrets_guard: SecretsGuard) -> None:
    team = await new_team(client, limits={"rpm": 30}, budget={"usd": 10, "period": "month"}, metadata={"cc": "42"})
    assert team["limits"]["rpm"] == 30 and team["budget"]["usd"] == 10 and team["metadata"] == {"cc": "42"}
    r = await client.patch(f"/admin/v1/teams/{team['name']}", json={"limits": {"tpm": 500}}, headers=ADMIN)
    # Every limit of the schema is in the view; those never set are null.
    unset = dict.fromkeys(NAMES)
    assert r.status_code == 200 and r.json()["limits"] == {**unset, "rpm": 30, "tpm": 500, "max_concurrency": None}
    assert team["id"] in [t["id"] for t in (await client.get("/admin/v1/teams", headers=ADMIN)).json()]

    key = await new_key(client, secrets_guard, team=team["id"], models=["fake-*"], env="prod", expires_in_seconds=3600)
    assert key["secret"].startswith("mr-") and key["status"] == "active" and key["team"] == team["name"]
    listed = (await client.get("/admin/v1/keys", params={"team": team["name"]}, headers=ADMIN)).json()
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]
    assert key["secret"] not in (await client.get("/admin/v1/keys", headers=ADMIN)).text
    got = (await client.get(f"/admin/v1/keys/{key['display']}", headers=ADMIN)).json()
    assert got["id"] == key["id"] and "secret" not in got

    r = await client.post(f"/admin/v1/keys/{key['id']}/rotate", json={"grace_seconds": 60}, headers=ADMIN)
    assert r.status_code == 200, r.text
    rotated = r.json()
    secrets_guard.add(rotated["secret"])
    assert rotated["previous_valid_until"] is not None and rotated["secret"] != key["secret"]
    for secret in (key["secret"], rotated["secret"]):
        assert (await client.get("/v1/models", headers=bearer(secret))).status_code == 200

    r = await client.post(f"/admin/v1/keys/{key['id']}/revoke", headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    for secret in (key["secret"], rotated["secret"]):
        r = await client.get("/v1/models", headers=bearer(secret))
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"

    r = await client.delete(f"/admin/v1/teams/{team['id']}", headers=ADMIN)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"

    audit = (await client.get("/admin/v1/audit", params={"target_id": key["id"]}, headers=ADMIN)).json()
    assert [e["action"] for e in audit] == ["key.revoke", "key.rotate", "key.create"]
    assert {e["actor"] for e in audit} == {"master"}


async def test_admin_keys_use_the_admin_api(client: httpx.AsyncClient, secrets_guard: SecretsGuard) -> None:
    admin = await new_key(client, secrets_guard, kind="admin")
    team = await new_team(client)
    r = await client.post("/admin/v1/keys", json={"name": "x", "team": team["id"]}, headers=bearer(admin["secret"]))
    assert r.status_code == 201
    secrets_guard.add(r.json()["secret"])
    audit = (await client.get("/admin/v1/audit", params={"target_id": r.json()["id"]}, headers=ADMIN)).json()
    assert audit[0]["actor"] == admin["id"], "the audit log names the admin key that acted"


async def test_regular_keys_reach_no_admin_route(client: httpx.AsyncClient, secrets_guard: SecretsGuard) -> None:
    team = await new_team(client)
    regular = await new_key(client, secrets_guard, team=team["id"])
    routes = await admin_routes(client)
    assert len(routes) >= 10
    for method, path in routes:
        r = await client.request(method, path, headers=bearer(regular["secret"]), json={})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["type"] == "permission_error", (method, path)
        r = await client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["type"] == "authentication_error"


async def test_bad_bodies_get_openai_errors(client: httpx.AsyncClient) -> None:
    r = await client.post("/admin/v1/teams", json={"name": ""}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = await client.post("/admin/v1/keys", json={"name": "k", "unknown": 1}, headers=ADMIN)
    assert r.status_code == 400 and "unknown" in r.json()["error"]["message"]
    r = await client.post("/admin/v1/keys", json={"name": "k"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"]["param"] == "team"
    r = await client.get("/admin/v1/keys/key_nope", headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"]["code"] == "key_not_found"


async def test_openapi_documents_the_admin_api(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/admin/v1/openapi.json", headers=ADMIN)).json()
    paths = set(doc["paths"])
    assert {"/v1/teams", "/v1/keys", "/v1/keys/{key}/rotate", "/v1/keys/{key}/revoke", "/v1/audit"} <= paths
    assert "KeyCreated" in doc["components"]["schemas"]


async def test_scopes_through_the_sdk(client: httpx.AsyncClient, secrets_guard: SecretsGuard) -> None:
    team = await new_team(client)
    key = await new_key(client, secrets_guard, team=team["id"], models=["fake-*"], endpoints=["chat"], max_tokens=50)
    oai = sdk(client, key["secret"])

    models = await oai.models.list()
    assert sorted(m.id for m in models.data) == ["fake-chat", "fake-embed"]
    reply = await oai.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content

    with pytest.raises(openai.PermissionDeniedError) as exc:
        await oai.chat.completions.create(model="other-chat", messages=[{"role": "user", "content": "hi"}])
    assert "other-chat" in str(exc.value)
    with pytest.raises(openai.NotFoundError):
        await oai.models.retrieve("other-chat")
    with pytest.raises(openai.PermissionDeniedError, match="embeddings"):
        await oai.embeddings.create(model="fake-embed", input="hi")
    with pytest.raises(openai.PermissionDeniedError, match="50"):
        await oai.chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=51
        )

    for bad in ("mr-" + "q" * 43, key["secret"] + "x"):
        with pytest.raises(openai.AuthenticationError):
            await sdk(client, bad).models.list()


async def test_key_is_recorded_as_used(db_url: str, tmp_path: Path, secrets_guard: SecretsGuard) -> None:
    app = key_app(db_url, tmp_path)
    async with running(app) as client:
        team = await new_team(client)
        key = await new_key(client, secrets_guard, team=team["id"])
        await sdk(client, key["secret"]).models.list()
    # Shutdown flushed the batch.
    async with running(key_app(db_url, tmp_path)) as client:
        got = (await client.get(f"/admin/v1/keys/{key['id']}", headers=ADMIN)).json()
        assert got["last_used_at"] is not None
