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


def _chat_scope(body: bytes, path: str = "/v1/chat/completions") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("test", 80), "client": ("127.0.0.1", 1), "state": {},
        "headers": [
            (b"authorization", f"Bearer {MASTER_KEY}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }  # fmt: skip


async def test_client_gone_before_the_watch_starts_is_noticed_when_it_does(app_factory):
    """The watch starts WATCH_AFTER into the request; a client that left earlier still cancels
    a waiting upstream call then, not at the upstream's deadline."""
    from modelrail.api.disconnect import WATCH_AFTER

    app = app_factory(models=[{"name": "slow", "provider": "fake", "reply": "hi", "latency": 5}])
    body = orjson.dumps({"model": "slow", "messages": [{"role": "user", "content": "x"}]})
    calls = 0

    async def receive():
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}  # gone at once

    async def send(message):
        pass

    async with app.router.lifespan_context(app):
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(app(_chat_scope(body), receive, send), timeout=3)
        assert WATCH_AFTER <= loop.time() - started < 1.0
        assert calls == 2  # the answer did not wait out the upstream's 5 s: the call was cancelled


async def test_a_request_answered_before_the_watch_starts_never_waits_for_a_disconnect(app_factory):
    app = app_factory(models=[{"name": "quick", "provider": "fake", "reply": "hi", "latency": 0.01}])
    body = orjson.dumps({"model": "quick", "messages": [{"role": "user", "content": "x"}]})
    for stream in (False, True):
        data = orjson.dumps({**orjson.loads(body), "stream": stream})
        calls = 0
        sent: list[dict] = []

        async def receive(data: bytes = data) -> dict:
            nonlocal calls
            calls += 1
            if calls == 1:
                return {"type": "http.request", "body": data, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict, sent: list[dict] = sent) -> None:
            sent.append(message)

        async with app.router.lifespan_context(app):
            await asyncio.wait_for(app(_chat_scope(data), receive, send), timeout=3)
            await asyncio.sleep(0.1)  # past WATCH_AFTER: a watch left behind would call receive now
        assert sent[0]["status"] == 200
        assert calls == 1
