"""A client that disconnects mid-stream cancels the upstream stream."""

from __future__ import annotations

import asyncio

import orjson

from tests.conftest import MASTER_KEY, fake_provider


async def test_disconnect_mid_stream_closes_upstream(app_factory):
    app = app_factory(models=[{"name": "slow", "provider": "fake", "reply": "a " * 200, "tokens_per_second": 50}])
    provider = fake_provider(app, "slow")
    body = orjson.dumps({"model": "slow", "messages": [{"role": "user", "content": "x"}], "stream": True})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        "headers": [
            (b"authorization", f"Bearer {MASTER_KEY}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
    }
    disconnect = asyncio.Event()
    request_sent = False
    sent: list[dict] = []

    async def receive():
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        chunks = [m for m in sent if m["type"] == "http.response.body"]
        if len(chunks) == 3:
            disconnect.set()

    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app(scope, receive, send), timeout=5)
        # The app returned soon after the disconnect, and the upstream stream was closed.
        assert provider.open_streams == 0
        bodies = [m for m in sent if m["type"] == "http.response.body"]
        assert 3 <= len(bodies) < 20
        assert sent[0]["status"] == 200
