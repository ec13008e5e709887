"""What one request carries down the pipeline and back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modelrail.auth.principal import Principal
from modelrail.protocol.base import JSONObject

# A name in the endpoint table (modelrail.endpoints.ENDPOINTS): what the client called.
Endpoint = str


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        if not isinstance(usage, dict):
            return None
        details = usage.get("prompt_tokens_details") or {}
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens"))
        if prompt is None or completion is None:
            return None  # the upstream's usage is not numbers: the request is billed by estimate
        cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
        return cls(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached or 0)


def _count(value: Any) -> int | None:
    """A token count from an upstream's JSON: a whole number from 0 up; absent is 0; else None."""
    if value is None:
        return 0
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**53:
        return int(value)
    return None


@dataclass(slots=True)
class RequestContext:
    request_id: str
    principal: Principal
    endpoint: Endpoint
    alias: str
    body: JSONObject
    params: Any
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    created_at: float = field(default_factory=time.time)
    deployment: str | None = None
    attempts: int = 0
    fallback_from: str | None = None
    # Tokens admission reserved (prompt estimate + expected output): per-deployment TPM reuses it.
    reserved_tokens: int | None = None
    # Seconds the client allows (x-modelrail-timeout, x-modelrail-ttft-timeout): these only tighten
    # the deployment's own deadlines, and the total one covers every retry and fallback.
    timeout: float | None = None
    ttft_timeout: float | None = None
    ttft: float | None = None
    usage: Usage | None = None
    # What ``usage`` cost, once the meter has priced it (settling does, and the ledger reuses it).
    cost_usd: float | None = None
    status: int = 200
    error_code: str | None = None
    # Headers every stage may add to the response (limits, cost, routing).
    response_headers: dict[str, str] = field(default_factory=dict)
    # The text a stream has sent: billed by estimate when the stream ends without a usage chunk.
    # Its batches are read for text only then, or once they hold many chunks (usage/estimate.py).
    output_text: list[str] = field(default_factory=list)
    unread: list[Any] | None = None
    unread_chunks: int = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
