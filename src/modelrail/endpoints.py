"""The endpoint table: every API endpoint modelrail serves, declared once.

The API reads its path, request model and error dialect; the router reads which provider method
serves it (and so which deployments can); admission and the deployment quotas read how its
output tokens are estimated; key scopes read its scope name. Adding an endpoint is one entry
here, its protocol models and one provider method.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from modelrail.protocol.anthropic import MessagesRequest
from modelrail.protocol.base import WireModel
from modelrail.protocol.openai import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

ProviderMethod = Literal["chat", "completion", "embeddings"]
Dialect = Literal["openai", "anthropic"]

# The provider-facing endpoint name (``Call.endpoint``, ``Provider.serves``) of each unary method.
PROVIDER_ENDPOINT: MappingProxyType[ProviderMethod, str] = MappingProxyType(
    {"chat": "chat", "completion": "completions", "embeddings": "embeddings"}
)


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One endpoint.

    ``provider_method`` names the provider's unary method (streams go through the provider's
    streaming method for the same kind of call). ``produces_output`` says whether the answer has
    output tokens: when it does and the request names no cap, admission and the deployment quotas
    reserve ``limits.expected_output_tokens`` for them; when it does not (embeddings), nothing.
    """

    name: str
    path: str
    request_model: type[WireModel]
    provider_method: ProviderMethod
    streams: bool
    produces_output: bool
    scope: str
    dialect: Dialect

    @property
    def provider_endpoint(self) -> str:
        """The name the provider knows this call by ("messages" runs as "chat")."""
        return PROVIDER_ENDPOINT[self.provider_method]


_ALL = (
    EndpointSpec(
        name="chat",
        path="/v1/chat/completions",
        request_model=ChatCompletionRequest,
        provider_method="chat",
        streams=True,
        produces_output=True,
        scope="chat",
        dialect="openai",
    ),
    EndpointSpec(
        name="completions",
        path="/v1/completions",
        request_model=CompletionRequest,
        provider_method="completion",
        streams=True,
        produces_output=True,
        scope="completions",
        dialect="openai",
    ),
    EndpointSpec(
        name="embeddings",
        path="/v1/embeddings",
        request_model=EmbeddingRequest,
        provider_method="embeddings",
        streams=False,
        produces_output=False,
        scope="embeddings",
        dialect="openai",
    ),
    # Anthropic's Messages API: translated to a chat body once, then run as a chat call.
    EndpointSpec(
        name="messages",
        path="/v1/messages",
        request_model=MessagesRequest,
        provider_method="chat",
        streams=True,
        produces_output=True,
        scope="messages",
        dialect="anthropic",
    ),
)

ENDPOINTS: MappingProxyType[str, EndpointSpec] = MappingProxyType({spec.name: spec for spec in _ALL})
BY_PATH: MappingProxyType[str, EndpointSpec] = MappingProxyType({spec.path: spec for spec in _ALL})
# Names key scopes may list (the admin API and the CLI validate against these).
SCOPES: tuple[str, ...] = tuple(dict.fromkeys(spec.scope for spec in _ALL))
