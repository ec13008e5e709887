"""The one abstract Provider, and the types that cross its boundary.

A provider instance is one configured upstream connection (a deployment's client): it is built
at start-up from its config, holds its pooled HTTP client (or in-process model), and is closed at
shutdown. Requests and responses cross this boundary in OpenAI's wire shape, as plain dicts:
providers with another wire format translate at their edge, and the OpenAI-compatible provider
forwards with next to no work.

Streams are async iterators of ``chat.completion.chunk`` (or ``text_completion``) dicts. A provider
ends every stream it can with a usage chunk (``choices == []``); the API decides whether the client
sees it. Closing the iterator (``aclose``) must cancel the upstream request.

The router reads streams through ``chat_batches``/``completion_batches``: lists of the chunks that
arrived together (providers/batches.py). By default they wrap ``chat_stream``/``completion_stream``
one chunk per batch; a provider that reads many events at once overrides them instead.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from modelrail.errors import InvalidRequest
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks, one_by_one


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
    """

    request_id: str
    model: str
    body: JSONObject
    params: Any
    timeouts: Timeouts
    extra_headers: dict[str, str] = field(default_factory=dict)


# The unary method that serves each provider-facing endpoint name.
_UNARY_METHOD: MappingProxyType[str, str] = MappingProxyType(
    {"chat": "chat", "completions": "completion", "embeddings": "embeddings"}
)


@dataclass(slots=True, frozen=True)
class Capabilities:
    chat: bool = True
    completions: bool = True
    embeddings: bool = False


class Provider(abc.ABC):
    """One upstream kind. Subclasses set ``kind`` and ``config_model`` and implement the calls."""

    kind: ClassVar[str]
    config_model: ClassVar[type[ProviderConfig]] = ProviderConfig
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def start(self) -> None:
        """Open pooled clients or load the model. Called once, at start-up."""

    async def close(self) -> None:
        """Release what ``start`` opened. Called once, at shutdown."""

    async def chat(self, call: Call) -> JSONObject:
        raise self._unsupported("chat completions")

    def chat_stream(self, call: Call) -> AsyncIterator[JSONObject]:
        raise self._unsupported("streamed chat completions")

    async def completion(self, call: Call) -> JSONObject:
        raise self._unsupported("completions")

    def completion_stream(self, call: Call) -> AsyncIterator[JSONObject]:
        raise self._unsupported("streamed completions")

    async def embeddings(self, call: Call) -> JSONObject:
        raise self._unsupported("embeddings")

    def chat_batches(self, call: Call) -> AsyncIterator[Chunks]:
        return one_by_one(self.chat_stream(call))

    def completion_batches(self, call: Call) -> AsyncIterator[Chunks]:
        return one_by_one(self.completion_stream(call))

    def serves(self, endpoint: str) -> bool:
        """Whether this provider can serve ``endpoint`` (``"chat"``, ``"completions"`` or
        ``"embeddings"``): by default, whether its class implements that unary method. A provider
        may narrow it from its config (an embeddings-only model). The router reads it at start-up
        and skips deployments that cannot serve a request's endpoint."""
        method = _UNARY_METHOD.get(endpoint)
        return method is not None and getattr(type(self), method) is not getattr(Provider, method)

    async def list_models(self) -> list[JSONObject]:
        """Models the upstream itself offers (for ``modelrail models``); not the configured aliases."""
        return []

    def _unsupported(self, what: str) -> InvalidRequest:
        return InvalidRequest(f"The '{self.kind}' provider does not support {what} for this model.")
