"""The mock OpenAI upstream's settings (:class:`MockConfig`), what it records of each request, and
the error bodies its faults answer with, as OpenAI words them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modelrail.testing import mock_bodies as bodies
from modelrail.testing.asgi import Headers

DEFAULT_REPLY = "This is a mock reply from the modelrail test upstream, sent in small pieces."
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small")


@dataclass(slots=True, frozen=True)
class MockConfig:
    """How the mock answers. Times are in seconds.

    ``echo`` answers with the last user message instead of ``reply``. ``chunks`` is how many
    content chunks a stream carries (and the completion token count). ``record`` keeps each API
    request for ``GET /_mock/requests`` (at most ``record_limit``); benchmarks turn it off.
    ``check_models`` answers 404 ``model_not_found`` for a model outside ``models``.
    """

    reply: str = DEFAULT_REPLY
    echo: bool = False
    chunks: int = 10
    ttft: float = 0.0
    chunk_delay: float = 0.0
    models: tuple[str, ...] = DEFAULT_MODELS
    api_key: str | None = None
    check_models: bool = False
    record: bool = True
    record_limit: int = 10_000
    embedding_dim: int | None = None
    tool_arguments: str = '{"location": "Paris"}'

    @classmethod
    def from_json(cls, data: Mapping[str, Any], base: MockConfig | None = None) -> MockConfig:
        base = base or cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        changes = dict(data)
        if "models" in changes:
            changes["models"] = tuple(changes["models"])
        return dataclasses.replace(base, **changes)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["api_key"] = None if self.api_key is None else "***"
        return data


@dataclass(slots=True, frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Headers
    body: bytes

    def to_json(self) -> dict[str, Any]:
        try:
            body: Any = orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            body = self.body.decode("utf-8", "replace")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers}
        return {"method": self.method, "path": self.path, "headers": headers, "body": body}


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
_ERROR_MESSAGES = {
    429: "Rate limit reached for requests. Please try again in 1s.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


def fault_error(status: int) -> bytes:
    type_, code = _ERROR_TYPES.get(status, ("server_error", None))
    message = _ERROR_MESSAGES.get(status, f"Mock fault: status {status}.")
    return bodies.error_body(message, type_, None, code)
