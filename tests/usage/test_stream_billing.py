"""A streamed request the client cuts off is billed for what was generated up to then."""

from __future__ import annotations

import asyncio

import orjson

from modelrail.auth.principal import Budget, Principal
from tests.metering_support import MASTER_KEY, build_app, ledger_rows

WORDS = 200
PRICE = {"input": 1000.0, "output": 1000.0}


def _scope(body: bytes) -> dict:
    return {
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


async def test_client_cut_stream_is_billed_for_what_was_sent(tmp_path):
    models = [{"name": "slow", "provider": "fake", "reply": "word " * WORDS, "tokens_per_second": 100}]
    principal = Principal(key_id="streamer", name="s", key_budget=Budget(usd=100.0, period="month"))
    app = build_app(tmp_path, models, principal, pricing={"overrides": {"slow": PRICE}})
    body = orjson.dumps({"model": "slow", "messages": [{"role": "user", "content": "go"}], "stream": True})
    disconnect = asyncio.Event()
    sent: list[dict] = []
    request_sent = False

    async def receive():
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if sum(1 for m in sent if m["type"] == "http.response.body") == 11:
            disconnect.set()

    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app(_scope(body), receive, send), timeout=10)
        # Give the stream wrapper's finally (settle + record) a moment after the cancel.
        await asyncio.sleep(0.1)
    content_chunks = 0
    for m in sent:
        if m["type"] == "http.response.body" and m.get("body", b"").startswith(b"data: {"):
            chunk = orjson.loads(m["body"][6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                content_chunks += 1
    rows = await ledger_rows(tmp_path / "ledger.db")
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == 499
    assert row["stream"] and row["estimated"]
    # Billed for the words sent (each "word " is a few characters: about one or two tokens each),
    # not nothing and not the whole 200-word reply.
    assert content_chunks <= row["completion_tokens"] <= 2 * (content_chunks + 2)
    assert row["completion_tokens"] < WORDS
    assert row["prompt_tokens"] > 0
    assert row["cost_usd"] == (row["prompt_tokens"] + row["completion_tokens"]) * 0.001
    assert row["ttft_ms"] is not None


def test_a_long_stream_without_usage_keeps_few_chunks_unread_and_bills_all_its_text():
    """Batches wait unread (most streams end with a usage chunk, and then their text is never
    needed), but never more than UNREAD_CHUNKS chunks of them: then their text is taken out."""
    from modelrail.context import RequestContext
    from modelrail.usage.estimate import UNREAD_CHUNKS, keep_for_text, streamed_text

    ctx = RequestContext(request_id="r", principal=Principal(key_id="k", name="k"), endpoint="chat",
                         alias="m", body={}, params=None, stream=True)  # fmt: skip
    sent = []
    for i in range(3 * UNREAD_CHUNKS):
        piece = f"w{i} "
        sent.append(piece)
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
        tool = {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]}
        keep_for_text(ctx, [chunk, tool] if i % 100 == 0 else [chunk])
        if i % 100 == 0:
            sent.append("{}")
        assert ctx.unread_chunks <= UNREAD_CHUNKS
    assert streamed_text(ctx) == "".join(sent)
    assert ctx.unread is None and ctx.unread_chunks == 0
