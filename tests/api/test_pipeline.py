"""The dispatcher: one path for every route, errors in each route's dialect, every admin route documented."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelrail.endpoints import ENDPOINTS
from tests.conftest import AUTH, running

CHAT = {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]}
MESSAGE = {"model": "fake-chat", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


async def test_a_draining_server_refuses_in_each_endpoints_dialect(app) -> None:
    async with running(app) as client:
        app.state.runtime.draining = True
        r = await client.post("/v1/messages", json=MESSAGE, headers=AUTH)
        assert r.status_code == 503
        assert r.headers["connection"] == "close" and r.headers["retry-after"] == "1"
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
        assert body["request_id"] == r.headers["x-request-id"]
        assert "shutting down" in body["error"]["message"]

        r = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded"
        # The admin API and unknown paths are refused too (OpenAI's shape); the probes answer.
        for path in ("/admin/v1/teams", "/v1/nothing"):
            r = await client.get(path, headers=AUTH)
            assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded", path
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.head("/readyz")).status_code == 503


async def test_errors_before_the_handler_come_in_the_routes_dialect(client) -> None:
    # Authentication is a step of the dispatcher: its refusal is Anthropic's on /v1/messages...
    r = await client.post("/v1/messages", json=MESSAGE, headers={"x-api-key": "wrong"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert r.json()["type"] == "error"
    r = await client.get("/v1/messages", headers=AUTH)
    assert r.status_code == 405 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["type"] == "error"
    # ...and OpenAI's on the OpenAI routes.
    r = await client.post("/v1/embeddings", json={"model": "fake-chat", "input": "a"}, headers={"x-api-key": "no"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert "x-request-id" in r.headers


async def test_every_endpoint_of_the_table_is_served(client) -> None:
    bodies = {
        "chat": CHAT,
        "completions": {"model": "fake-chat", "prompt": "x"},
        "embeddings": {"model": "fake-chat", "input": "x"},
        "messages": MESSAGE,
    }
    assert set(bodies) == set(ENDPOINTS)
    for name, spec in ENDPOINTS.items():
        r = await client.post(spec.path, json=bodies[name], headers=AUTH)
        assert r.status_code == 200, (name, r.text)


async def test_probes_answer_head_and_model_ids_may_hold_slashes(client) -> None:
    assert (await client.head("/healthz")).status_code == 200
    r = await client.get("/v1/models/openai/gpt-4o", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["param"] == "model"
    assert (await client.get("/v1/models/fake-chat")).status_code == 401


async def test_admin_reports_and_deployments_are_in_the_admin_openapi_document(client) -> None:
    doc = (await client.get("/admin/v1/openapi.json", headers=AUTH)).json()
    for path in ("/v1/usage", "/v1/spend", "/v1/deployments", "/v1/teams", "/v1/keys", "/v1/audit"):
        assert "get" in doc["paths"][path], path
    # Same paths and behaviour as before they moved into the admin app.
    r = await client.get("/admin/v1/deployments", headers=AUTH)
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "fake-chat#0"
    assert r.headers["x-request-id"]
    assert (await client.get("/admin/v1/deployments")).status_code == 401
    r = await client.get("/admin/v1/spend?period=week", headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["param"] == "period"


class _Tagging:
    """Middleware that marks every response it sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-tagged", b"yes")]
            await send(message)

        await self.app(scope, receive, tagged)


async def test_middleware_added_later_sees_every_request(app) -> None:
    app.add_middleware(_Tagging)
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert r.status_code == 200 and r.headers["x-tagged"] == "yes"
        r = await client.get("/v1/nothing", headers=AUTH)
        assert r.status_code == 404 and r.headers["x-tagged"] == "yes"
        assert r.json()["error"]["code"] == "unknown_url"
