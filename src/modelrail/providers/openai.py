"""Any OpenAI-compatible upstream: OpenAI, vLLM, Ollama, llama.cpp server, Together, Groq, Mistral.

Translation only, on the shared transport (providers/transport.py): the request body is forwarded
as the client sent it (with ``model`` replaced), so fields modelrail does not model still reach
the upstream; answers and stream events are OpenAI's own shape, so they pass through as they came.
What is OpenAI's own here: its URLs and headers, asking for a usage chunk on streams, and reading
its error bodies (:class:`OpenAIErrors`: the ``context_length_exceeded`` code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import AnyHttpUrl, Field, field_validator

from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.batches import Chunks
from modelrail.providers.transport import Transport
from modelrail.providers.upstream_errors import ErrorBody, ErrorReader


class OpenAIConfig(ProviderConfig):
    api_base: AnyHttpUrl = AnyHttpUrl("https://api.openai.com/v1")
    api_key: str | None = None
    organization: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(default=1000, ge=1)
    # Ask the upstream for a usage chunk on every stream, so a stream is billed from the
    # upstream's own count; turn off for servers that reject ``stream_options``.
    stream_usage: bool = True

    @field_validator("api_base")
    @classmethod
    def _no_trailing_slash(cls, v: AnyHttpUrl) -> AnyHttpUrl:
        return AnyHttpUrl(str(v).rstrip("/"))


class OpenAIErrors(ErrorReader):
    """OpenAI's errors: a context-window error has the code ``context_length_exceeded``.

    OpenAI-compatible servers (vLLM, llama.cpp, Ollama...) often send no code, so their message is
    read as a fallback; that guesswork stays here, with the servers that need it."""

    def context_window(self, status: int, error: ErrorBody) -> bool:
        if error.code == "context_length_exceeded":
            return True
        low = error.message.lower()
        return "context_length_exceeded" in low or "context length" in low or "maximum context" in low


class OpenAIProvider(Provider):
    kind = "openai"
    config_model = OpenAIConfig

    def __init__(self, config: ProviderConfig, *, transport: Transport | None = None) -> None:
        assert isinstance(config, OpenAIConfig)
        super().__init__(config)
        self.cfg = config
        self.transport = transport if transport is not None else Transport(max_connections=config.max_connections)
        base = str(config.api_base).rstrip("/")
        # Built once: a request only looks its URL up.
        self._chat_url = base + "/chat/completions"
        self._completions_url = base + "/completions"
        self._embeddings_url = base + "/embeddings"
        self._models_url = base + "/models"
        self._errors = OpenAIErrors([config.api_key] if config.api_key else [])
        # A user-agent of our own: with none, aiohttp would add its own unless told to skip it, and
        # skipping rebuilds a header multidict on every request (about 5% of a request's CPU).
        self._headers = {"content-type": "application/json", "user-agent": "modelrail", **config.headers}
        if config.api_key:
            self._headers["authorization"] = f"Bearer {config.api_key}"
        if config.organization:
            self._headers["openai-organization"] = config.organization

    async def start(self) -> None:
        await self.transport.start()

    async def close(self) -> None:
        await self.transport.close()

    # -- calls ---------------------------------------------------------------------------------

    async def chat(self, call: Call) -> JSONObject:
        return await self.transport.post_json(self._chat_url, self._headers, call, call.body, self._errors)

    async def completion(self, call: Call) -> JSONObject:
        return await self.transport.post_json(self._completions_url, self._headers, call, call.body, self._errors)

    async def embeddings(self, call: Call) -> JSONObject:
        return await self.transport.post_json(self._embeddings_url, self._headers, call, call.body, self._errors)

    def stream(self, call: Call) -> AsyncIterator[Chunks]:
        body = call.body
        if self.cfg.stream_usage:
            opts = body.get("stream_options") or {}
            if not opts.get("include_usage"):
                body = {**body, "stream_options": {**opts, "include_usage": True}}
        url = self._completions_url if call.endpoint == "completions" else self._chat_url
        return self.transport.sse(url, self._headers, call, body, self._errors)

    async def list_models(self) -> list[JSONObject]:
        reply = await self.transport.send("GET", self._models_url, self._headers, errors=self._errors)
        data = reply.json().get("data", [])
        return [m for m in data if isinstance(m, dict)]


PROVIDER = OpenAIProvider
