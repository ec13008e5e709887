"""Spend alerts fire once per threshold per period, to a webhook on loopback and to the log."""

from __future__ import annotations

import asyncio
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from modelrail.auth.principal import Budget, Principal
from tests.conftest import running
from tests.metering_support import build_app, chat

PRICE = {"input": 1000.0, "output": 1000.0}  # $0.001 per token


class Receiver:
    """A tiny webhook receiver; the first ``fail_first`` POSTs get a 500, to exercise retries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.attempts += 1
                data = self.rfile.read(int(self.headers["content-length"]))
                if outer.attempts <= outer.fail_first:
                    self.send_response(500)
                else:
                    outer.bodies.append(orjson.loads(data))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_threshold_alert_fires_exactly_once(tmp_path, caplog):
    # Each request costs 8 tokens x $0.001 = $0.008 (5 prompt + 3 output, as the fake counts);
    # a $0.10 budget crosses 50% on the 7th request and 80% on the 10th.
    models = [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}]
    principal = Principal(
        key_id="alerted", name="a", key_budget=Budget(usd=0.10, period="month", alert_thresholds=(0.5, 0.8))
    )
    with Receiver(fail_first=2) as hook:
        app = build_app(
            tmp_path, models, principal,
            pricing={"overrides": {"fake-chat": PRICE}},
            alerts={"webhook_url": hook.url, "backoff_s": 0.05},
        )  # fmt: skip
        caplog.set_level(logging.WARNING, logger="modelrail.alerts")
        async with running(app) as client:
            for _ in range(8):
                r = await client.post("/v1/chat/completions", json=chat(max_tokens=3))
                assert r.status_code == 200
            # Concurrent requests over the threshold must not fire it again.
            await asyncio.gather(*(client.post("/v1/chat/completions", json=chat(max_tokens=3)) for _ in range(2)))
            for _ in range(50):
                if len(hook.bodies) >= 2:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    thresholds = sorted(b["threshold"] for b in hook.bodies)
    assert thresholds == [0.5, 0.8], hook.bodies
    assert hook.attempts == 4  # two failures retried with backoff, then one POST per alert
    first = next(b for b in hook.bodies if b["threshold"] == 0.5)
    assert first["type"] == "budget.threshold" and first["scope"] == "key" and first["id"] == "alerted"
    assert first["budget_usd"] == 0.10 and first["spend_usd"] >= 0.05 and first["period"] == "month"
    logged = [r for r in caplog.records if r.name == "modelrail.alerts" and "budget alert" in r.getMessage()]
    assert len(logged) == 2
