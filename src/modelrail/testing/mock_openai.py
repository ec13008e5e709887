"""A mock OpenAI upstream: a raw ASGI app speaking OpenAI's wire format, programmable by tests.

It answers ``POST /v1/chat/completions`` (plain and SSE), ``POST /v1/completions``,
``POST /v1/embeddings``, ``GET /v1/models`` and ``GET /v1/models/{id}``. No framework sits
between the socket and the handlers, so the benchmarks measure the server under test, not this.

Tests steer it at runtime through control endpoints (never authenticated, never recorded):

- ``POST /_mock/faults``: a fault object or a list of them, queued and consumed one per API request:
  ``{"status": 429, "headers": {"retry-after": "1"}}``, ``{"status": 503}``, ``{"hang": true}``,
  ``{"cut_after_chunks": 1}``, ``{"delay": 0.5}``, ``{"garbage": true}``, ``{"status": 429,
  "retry_after": 2}`` (or the shorthand ``{"kind": "rate_limit", "retry_after": 2}``): the one
  :class:`~modelrail.testing.faults.Fault` vocabulary the fake provider shares. A fault with
  ``fail_rate`` is not queued but persistent: it applies to each request with that probability
  until reset. ``GET`` lists them, ``DELETE`` clears them.
- ``GET /_mock/requests`` (what was received), ``DELETE /_mock/requests`` (forget it).
- ``GET``/``POST /_mock/config`` (read, or change some fields of ``MockConfig``).
- ``POST /_mock/reset`` (faults, records and config back to how the app was built).
- ``GET /_mock/health``.

Run it alone with ``python -m modelrail.testing.mock_openai --port 9100``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from modelrail.testing import mock_bodies as bodies
from modelrail.testing.asgi import (
    JSON_TYPE,
    SSE_TYPE,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_json,
    until_disconnect,
    wait_for_disconnect,
)
from modelrail.testing.faults import Fault
from modelrail.testing.mock_config import DEFAULT_MODELS, DEFAULT_REPLY, MockConfig, RecordedRequest, fault_error

__all__ = ["DEFAULT_MODELS", "DEFAULT_REPLY", "Fault", "MockConfig", "MockOpenAI", "RecordedRequest", "main"]

# An API handler takes the raw body and the path, and returns a body dict or a stream plan.
Handler = Callable[[bytes, str], Any]

logger = logging.getLogger(__name__)


class MockOpenAI:
    """The ASGI app. Its state lives on the instance; build one per test or per server."""

    def __init__(self, config: MockConfig | None = None, *, seed: int | None = None) -> None:
        self._initial = config or MockConfig()
        self._random = random.Random(seed)
        self._faults: deque[Fault] = deque()
        self._persistent: Fault | None = None
        self._requests: deque[RecordedRequest] = deque(maxlen=self._initial.record_limit)
        self.config = self._initial
        self._pieces: list[str] = []
        self._expected_auth: bytes | None = None
        # API requests in progress: lets a test see a hung request end when its client leaves.
        self.active = 0
        self._routes: dict[str, tuple[str, Handler]] = {
            "/v1/chat/completions": ("POST", self._chat),
            "/v1/completions": ("POST", self._completions),
            "/v1/embeddings": ("POST", self._embeddings),
            "/v1/models": ("GET", self._models),
        }
        self.configure(self._initial)

    # -- the Python face of the control endpoints, for tests that hold the app in-process --------

    def configure(self, config: MockConfig) -> None:
        # Split first: a config with a wrongly typed field fails here and leaves the old one in place.
        self._pieces = bodies.split_text(config.reply, config.chunks)
        self.config = config
        self._expected_auth = None if config.api_key is None else f"Bearer {config.api_key}".encode()
        if self._requests.maxlen != config.record_limit:
            self._requests = deque(self._requests, maxlen=config.record_limit)

    def add_faults(self, faults: Iterable[Fault]) -> None:
        for fault in faults:
            if fault.fail_rate is not None:
                self._persistent = fault
            else:
                self._faults.append(fault)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._persistent = None

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._requests)

    def clear_requests(self) -> None:
        self._requests.clear()

    def reset(self) -> None:
        self.clear_faults()
        self.clear_requests()
        self.configure(self._initial)

    def _take_fault(self) -> Fault | None:
        if self._faults:
            return self._faults.popleft()
        fault = self._persistent
        if fault is not None and fault.fail_rate is not None and self._random.random() < fault.fail_rate:
            return fault
        return None

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"].startswith("/_mock/"):
                await self._control(scope, receive, send)
            else:
                self.active += 1
                try:
                    await self._api(scope, receive, send)
                finally:
                    self.active -= 1
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        body = await read_body(receive)
        config = self.config
        if config.record:
            self._requests.append(RecordedRequest(method, path, list(scope["headers"]), body))
        request_id = (b"x-request-id", b"req_" + os.urandom(12).hex().encode())
        if self._expected_auth is not None and header(scope, b"authorization") != self._expected_auth:
            message = (
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
            )
            error = bodies.error_body(message, "invalid_request_error", None, "invalid_api_key")
            await send_json(send, 401, error, [request_id])
            return
        handler = self._route(method, path)
        if isinstance(handler, int):
            text = "Invalid URL" if handler == 404 else "Method not allowed"
            error = bodies.error_body(f"{text} ({method} {path})", "invalid_request_error")
            await send_json(send, handler, error, [request_id])
            return
        fault = self._take_fault()
        delay = 0.0
        if fault is not None:
            if fault.hang:
                await wait_for_disconnect(receive)
                return
            if fault.status is not None:
                await self._send_fault(send, fault, request_id)
                return
            delay = fault.delay
        try:
            result = handler(body, path)
        except bodies.RequestError as exc:
            await send_json(send, 400, bodies.error_body(exc.message, "invalid_request_error", exc.param), [request_id])
            return
        except _NotFoundError as exc:
            error = bodies.error_body(str(exc), "invalid_request_error", "model", "model_not_found")
            await send_json(send, 404, error, [request_id])
            return
        cut = fault.cut_after_chunks if fault is not None else None
        if fault is not None and fault.garbage:
            work = self._garbage(send, isinstance(result, bodies.StreamPlan), delay, request_id)
        elif isinstance(result, bodies.StreamPlan):
            work = self._stream(send, result, delay, cut, request_id)
        else:
            work = self._answer(send, result, delay, cut, request_id)
        config = self.config
        if delay or config.ttft or config.chunk_delay:
            # A slow answer stops when its client leaves, as a real upstream's does; with no
            # delay there is nothing to stop, and the benchmarks' fast path stays one task.
            await until_disconnect(work, receive)
        else:
            await work

    def _route(self, method: str, path: str) -> Handler | int:
        route = self._routes.get(path)
        if route is None and path.startswith("/v1/models/"):
            route = ("GET", self._model)
        if route is None:
            return 404
        return route[1] if route[0] == method else 405

    async def _send_fault(self, send: Send, fault: Fault, request_id: tuple[bytes, bytes]) -> None:
        assert fault.status is not None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.error is not None:
            body = orjson.dumps({"error": {"param": None, "code": None, **fault.error}})
        else:
            body = fault_error(fault.status)
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in fault.response_headers().items()]
        await send_json(send, fault.status, body, [request_id, *extra])

    async def _answer(
        self, send: Send, result: dict[str, Any], delay: float, cut: int | None, request_id: tuple[bytes, bytes]
    ) -> None:
        config = self.config
        wait = config.ttft + delay + config.chunk_delay * max(0, config.chunks - 1)
        if wait > 0:
            await asyncio.sleep(wait)
        body = orjson.dumps(result)
        if cut is None:
            await send_json(send, 200, body, [request_id])
            return
        # Declare the full length and send half: the client sees the connection drop mid-body.
        headers = [JSON_TYPE, (b"content-length", str(len(body)).encode()), request_id]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})

    async def _stream(
        self, send: Send, plan: bodies.StreamPlan, delay: float, cut: int | None, request_id: tuple[bytes, bytes]
    ) -> None:
        config = self.config
        headers = [SSE_TYPE, (b"cache-control", b"no-cache"), request_id]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first_wait = config.ttft + delay
        if first_wait > 0:
            await asyncio.sleep(first_wait)
        chunk_delay = config.chunk_delay
        for index, data in enumerate(plan.frames):
            if cut is not None and index >= cut:
                # Returning without the final empty body makes the server drop the connection,
                # which is what a client sees when an upstream dies mid-stream.
                return
            if chunk_delay > 0 and plan.first_content < index < plan.content_end:
                await asyncio.sleep(chunk_delay)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _garbage(self, send: Send, stream: bool, delay: float, request_id: tuple[bytes, bytes]) -> None:
        """A 200 whose body (or first stream event) is not JSON: an upstream answering garbage."""
        wait = self.config.ttft + delay
        if wait > 0:
            await asyncio.sleep(wait)
        if not stream:
            await send_json(send, 200, b"<html>not json", [request_id])
            return
        headers = [SSE_TYPE, (b"cache-control", b"no-cache"), request_id]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: {not json\n\ndata: [DONE]\n\n"})

    # -- API handlers: parsed request in, body dict or stream plan out --------------------------

    def _parse(self, body: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise bodies.RequestError(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
            ) from None
        if not isinstance(data, dict):
            raise bodies.RequestError("The request body must be a JSON object.")
        model = data.get("model")
        if self.config.check_models and isinstance(model, str) and model not in self.config.models:
            raise _NotFoundError(f"The model `{model}` does not exist or you do not have access to it.")
        return data

    def _pieces_for(self, prompt: str | None) -> list[str]:
        if prompt is None:
            return self._pieces
        return bodies.split_text(prompt, self.config.chunks)

    def _chat(self, body: bytes, path: str) -> dict[str, Any] | bodies.StreamPlan:
        data = self._parse(body)
        echo = bodies.last_user_text(bodies.chat_messages(data)) if self.config.echo else None
        pieces = self._pieces_for(echo)
        id_ = "chatcmpl-" + os.urandom(12).hex()
        call_id = "call_" + os.urandom(12).hex()
        args = self.config.tool_arguments
        if data.get("stream") is True:
            return bodies.chat_stream(data, pieces, id_=id_, created=int(time.time()), tool_args=args, call_id=call_id)
        return bodies.chat_completion(data, pieces, id_=id_, created=int(time.time()), tool_args=args, call_id=call_id)

    def _completions(self, body: bytes, path: str) -> dict[str, Any] | bodies.StreamPlan:
        data = self._parse(body)
        pieces = self._pieces_for(bodies.completion_prompt(data) if self.config.echo else None)
        id_ = "cmpl-" + os.urandom(12).hex()
        if data.get("stream") is True:
            return bodies.text_completion_stream(data, pieces, id_=id_, created=int(time.time()))
        return bodies.text_completion(data, pieces, id_=id_, created=int(time.time()))

    def _embeddings(self, body: bytes, path: str) -> dict[str, Any]:
        return bodies.embeddings(self._parse(body), self.config.embedding_dim)

    def _models(self, body: bytes, path: str) -> dict[str, Any]:
        return bodies.model_list(self.config.models)

    def _model(self, body: bytes, path: str) -> dict[str, Any]:
        model_id = path.removeprefix("/v1/models/")
        if model_id not in self.config.models:
            raise _NotFoundError(f"The model '{model_id}' does not exist")
        return bodies.model_object(model_id)

    # -- control endpoints ---------------------------------------------------------------------

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        body = await read_body(receive)
        try:
            result = self._control_action(method, path, orjson.loads(body) if body else None)
        except (ValueError, TypeError) as exc:
            await send_json(send, 400, bodies.error_body(str(exc), "invalid_request_error"))
            return
        if result is None:
            await send_json(send, 404, bodies.error_body(f"Invalid URL ({method} {path})", "invalid_request_error"))
            return
        await send_json(send, 200, orjson.dumps(result))

    def _control_action(self, method: str, path: str, data: Any) -> Any:
        match (method, path):
            case ("GET", "/_mock/health"):
                return {"ok": True, "active": self.active}
            case ("POST", "/_mock/faults"):
                self.add_faults(Fault.from_json(f) for f in (data if isinstance(data, list) else [data]))
                return self._faults_json()
            case ("GET", "/_mock/faults"):
                return self._faults_json()
            case ("DELETE", "/_mock/faults"):
                self.clear_faults()
                return self._faults_json()
            case ("GET", "/_mock/requests"):
                return [r.to_json() for r in self._requests]
            case ("DELETE", "/_mock/requests"):
                self.clear_requests()
                return []
            case ("GET", "/_mock/config"):
                return self.config.to_json()
            case ("POST", "/_mock/config"):
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object of MockConfig fields")
                self.configure(MockConfig.from_json(data, self.config))
                return self.config.to_json()
            case ("POST", "/_mock/reset"):
                self.reset()
                return {"ok": True}
        return None

    def _faults_json(self) -> dict[str, Any]:
        persistent = None if self._persistent is None else self._persistent.to_json()
        return {"queued": [f.to_json() for f in self._faults], "persistent": persistent}


class _NotFoundError(Exception):
    pass


def main(argv: list[str] | None = None) -> None:
    """Run the mock on uvicorn (``python -m modelrail.testing.mock_openai --help``)."""
    from modelrail.testing.mock_cli import main as run

    run(argv)


if __name__ == "__main__":
    main()
