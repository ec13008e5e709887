"""The one abstract Provider, and the types that cross its boundary.

A provider instance is one configured upstream connection (a deployment's client): it is built
at start-up from its config, holds its pooled HTTP client (or in-process model), and is closed at
shutdown. Requests and responses cross this boundary in OpenAI's wire shape, as plain dicts:
providers with another wire format translate at their edge, and the OpenAI-compatible provider
forwards with next to no work.

What a new provider implements (one module exposing ``PROVIDER``, see providers/registry.py):

- ``kind`` (its name in the config file) and ``config_model`` (a :class:`ProviderConfig` subclass);
- the unary calls it serves, each ``async def name(self, call) -> JSONObject``: ``chat``,
  ``completion``, ``embeddings``. :meth:`Provider.serves` reads which ones a subclass overrides, so a
  provider declares nothing else about what it can do (it may narrow ``serves`` from its config);
- ``stream(call)``, the one streaming method, for chat and completion streams alike
  (``call.endpoint`` says which): an async iterator of *batches*, lists of the chunks
  (``chat.completion.chunk`` or ``text_completion`` dicts) that arrived together
  (providers/batches.py). A provider that makes chunks one at a time wraps its generator in
  :func:`~modelrail.providers.batches.one_by_one`. It ends every stream it can with a usage chunk
  (``choices == []``); the API decides whether the client sees it. Closing the iterator
  (``aclose``) must cancel the upstream request;
- ``start``/``close`` when it holds something (a pooled client, a model), and ``list_models``.

What an HTTP provider gets from :class:`~modelrail.providers.transport.Transport`: the pooled
session, its start and close, connect deadlines, ``x-request-id`` on every attempt, JSON bodies, the
SSE and newline-delimited-JSON readers, and the mapping of HTTP statuses and aiohttp's exceptions to
modelrail's errors (with :class:`~modelrail.providers.transport.ErrorReader` as the hook for the
provider's own error bodies and context-window codes). The router applies the first-token, idle
and total deadlines (providers/deadlines.py) around every provider, HTTP or not.

How errors are raised: only exceptions of modelrail's tree (:mod:`modelrail.errors`) leave a
provider, the upstream's failures as :class:`~modelrail.errors.UpstreamError` subclasses with
``retryable`` and ``retry_after`` set, as they drive retries, fallbacks and breakers. A library's
exceptions are translated once, at the provider's edge (the transport does it for HTTP). A call
the provider cannot serve raises :class:`~modelrail.errors.InvalidRequest` (the router skips such
deployments before it gets there).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from modelrail.errors import InvalidRequest
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks


class Timeouts(BaseModel):
    """Seconds. ``first_token`` bounds time to first byte of a stream or the whole non-stream call."""

    model_config = ConfigDict(extra="forbid")
    connect: float = Field(default=10.0, gt=0)
    first_token: float = Field(default=120.0, gt=0)
    idle: float = Field(default=60.0, gt=0)
    total: float = Field(default=600.0, gt=0)


class ProviderConfig(BaseModel):
    """Base of each provider's own config model. Subclasses add their fields.

    ``model`` is the upstream's model id. Unknown keys are refused, so a typo in the config file
    is an error that names the field.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model: str = Field(min_length=1)


@dataclass(slots=True)
class Call:
    """One upstream call, prepared by the router for one deployment.

    ``body`` is the client's JSON object with ``model`` set to the upstream model id: fields
    modelrail does not model pass through to OpenAI-compatible upstreams unchanged.
    ``params`` is the validated, typed view of the same body.
    ``extra_headers`` are sent upstream beside the provider's own (which win on a clash).
    """

    request_id: str
    model: str
    body: JSONObject
    params: Any
    timeouts: Timeouts
    # The provider-facing endpoint: "chat", "completions" or "embeddings" (Anthropic's "messages"
    # runs as a chat call). ``stream`` reads it to know which kind of stream to open.
    endpoint: str
    extra_headers: dict[str, str] = field(default_factory=dict)


class Provider(abc.ABC):
    """One upstream kind. Subclasses set ``kind`` and ``config_model`` and implement the calls."""

    kind: ClassVar[str]
    config_model: ClassVar[type[ProviderConfig]] = ProviderConfig

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def start(self) -> None:
        """Open pooled clients or load the model. Called once, at start-up."""

    async def close(self) -> None:
        """Release what ``start`` opened. Called once, at shutdown."""

    def serves(self, endpoint: str) -> bool:
        """Whether this provider can serve ``endpoint`` ("chat", "completions", "embeddings"): by
        default, whether its class overrides the unary method for it. Streams of an endpoint are
        served where its unary call is. A provider may narrow this from its config."""
        method = _METHODS.get(endpoint)
        return method is not None and getattr(type(self), method) is not getattr(Provider, method)

    async def chat(self, call: Call) -> JSONObject:
        raise self._unsupported("chat completions")

    async def completion(self, call: Call) -> JSONObject:
        raise self._unsupported("completions")

    async def embeddings(self, call: Call) -> JSONObject:
        raise self._unsupported("embeddings")

    def stream(self, call: Call) -> AsyncIterator[Chunks]:
        """The stream of ``call.endpoint`` ("chat" or "completions"), as batches of chunks."""
        raise self._unsupported(f"streamed {_NAMES.get(call.endpoint, call.endpoint)}")

    async def list_models(self) -> list[JSONObject]:
        """Models the upstream itself offers (for ``modelrail models``); not the configured aliases."""
        return []

    def _unsupported(self, what: str) -> InvalidRequest:
        return InvalidRequest(f"The '{self.kind}' provider does not support {what} for this model.")


# The unary method that serves each provider-facing endpoint, and its name in error messages.
_METHODS = {"chat": "chat", "completions": "completion", "embeddings": "embeddings"}
_NAMES = {"chat": "chat completions", "completions": "completions", "embeddings": "embeddings"}
