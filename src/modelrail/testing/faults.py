"""One vocabulary of upstream misbehaviour, shared by the fake provider (providers/fake.py, in
process) and the mock OpenAI upstream (``MockOpenAI``, over HTTP), so a test scripts either the same
way.

A :class:`Fault` is a plain value; build it with its fields or with the named constructors::

    Fault.failing(503)              # answer that HTTP error
    Fault.rate_limited(2.0)         # 429 with Retry-After: 2
    Fault.slow(0.5)                 # half a second more before the first token
    Fault.hanging()                 # never answer (until the client leaves)
    Fault.cut(after_chunks=2)       # break a stream after two chunks
    Fault.garbled()                 # an answer (or stream event) that is not JSON

As JSON (``POST /_mock/faults``, ``FakeProvider.program({...})``) a fault is an object of its fields,
or the shorthand ``{"kind": "rate_limit" | "server_error" | "hang" | "cut" | "slow" | "garbage", ...}``
with ``status``, ``retry_after``, ``after_chunks`` or ``delay`` beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The shorthand's kinds, as the fields they stand for.
_KINDS: Mapping[str, Mapping[str, Any]] = {
    "rate_limit": {"status": 429},
    "server_error": {"status": 500},
    "hang": {"hang": True},
    "cut": {"cut_after_chunks": 1},
    "slow": {},
    "garbage": {"garbage": True},
}
# The shorthand's own names for some fields.
_ALIASES = {"after_chunks": "cut_after_chunks"}


@dataclass(slots=True, frozen=True)
class Fault:
    """One misbehaviour of an upstream.

    ``status``: answer that HTTP error (with ``headers``; ``error`` overrides the error object).
    ``retry_after``: seconds the error asks the client to wait (a ``retry-after`` header).
    ``hang``: never answer. ``cut_after_chunks``: break a stream after that many chunks (a
    non-streamed answer is cut in half, or fails in process). ``delay``: seconds added to the time
    to first token. ``garbage``: answer with a body (or a stream event) that is not JSON.
    ``fail_rate``: not consumed by one request but kept, applying to each with that probability.
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    retry_after: float | None = None
    hang: bool = False
    cut_after_chunks: int | None = None
    delay: float = 0.0
    garbage: bool = False
    fail_rate: float | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("a fault's status must be from 400 to 599")
        if self.fail_rate is not None and not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be from 0 to 1")
        if self.cut_after_chunks is not None and self.cut_after_chunks < 0:
            raise ValueError("cut_after_chunks must be 0 or more")
        if self.delay < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("a fault's delay and retry_after must be 0 or more")

    # -- named constructors --------------------------------------------------------------------

    @classmethod
    def failing(cls, status: int = 500, **fields: Any) -> Fault:
        return cls(status=status, **fields)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, **fields: Any) -> Fault:
        return cls(status=429, retry_after=retry_after, **fields)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls(delay=delay)

    @classmethod
    def hanging(cls) -> Fault:
        return cls(hang=True)

    @classmethod
    def cut(cls, after_chunks: int = 1) -> Fault:
        return cls(cut_after_chunks=after_chunks)

    @classmethod
    def garbled(cls) -> Fault:
        return cls(garbage=True)

    # -- JSON ----------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        data = dict(data)
        kind = data.pop("kind", None)
        if kind is not None:
            if kind not in _KINDS:
                raise ValueError(f"unknown fault kind {kind!r}: one of {sorted(_KINDS)}")
            data = {**_KINDS[kind], **{_ALIASES.get(k, k): v for k, v in data.items()}}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if not isinstance(data.get("headers", {}), dict) or not isinstance(data.get("error", {}), dict):
            raise ValueError("a fault's headers and error must be JSON objects")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        defaults = Fault()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(defaults, f.name)
        } | ({"headers": dict(self.headers)} if self.headers else {})

    def response_headers(self) -> dict[str, str]:
        """The headers an HTTP answer of this fault carries: ``headers``, and ``retry-after``."""
        headers = {k.lower(): str(v) for k, v in self.headers.items()}
        if self.retry_after is not None and "retry-after" not in headers:
            headers["retry-after"] = _seconds(self.retry_after)
        return headers


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
