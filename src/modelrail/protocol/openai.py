"""OpenAI request models (the typed view of a request body) and response builders."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modelrail.protocol.base import JSONObject, WireModel

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class ChatMessage(WireModel):
    role: Role
    content: str | list[JSONObject] | None = None
    name: str | None = None
    tool_calls: list[JSONObject] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_required(self) -> ChatMessage:
        if self.content is None and self.role in ("system", "developer", "user", "tool"):
            raise ValueError(f"a '{self.role}' message needs 'content'")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a 'tool' message needs 'tool_call_id'")
        if isinstance(self.content, list):
            for part in self.content:
                if not isinstance(part.get("type"), str):
                    raise ValueError("each content part needs a string 'type'")
        return self


class StreamOptions(WireModel):
    include_usage: bool = False


class ResponseFormat(WireModel):
    type: Literal["text", "json_object", "json_schema"]


Stop = str | Annotated[list[str], Field(max_length=4)] | None


class SamplingParams(WireModel):
    """Fields that chat and legacy completions share."""

    model: str = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stop: Stop = None
    seed: int | None = None
    user: str | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logit_bias: dict[str, float] | None = None

    def output_cap(self) -> int | None:
        """The most output tokens the client allows."""
        return self.max_tokens

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(SamplingParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    tools: list[JSONObject] | None = None
    tool_choice: str | JSONObject | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    @field_validator("tools")
    @classmethod
    def _tools_are_functions(cls, v: list[JSONObject] | None) -> list[JSONObject] | None:
        for tool in v or []:
            if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
                raise ValueError("each tool needs type 'function' and a 'function' object")
            if not isinstance(tool["function"].get("name"), str):
                raise ValueError("each tool function needs a 'name'")
        return v

    def output_cap(self) -> int | None:
        """The most output tokens the client allows, whichever field it used."""
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingParams):
    prompt: str | list[str] | list[int] | list[list[int]] = Field()
    echo: bool | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1, le=20)

    @field_validator("prompt")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("must not be an empty list")
        return v


MAX_EMBEDDING_DIMENSIONS = 8192


class EmbeddingRequest(WireModel):
    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = "float"
    # Bounded: a provider that honours it (the fake one, a matryoshka model upstream) builds vectors of this
    # size, so an unbounded value is an allocation the client chooses. Real models stop at a few thousand.
    dimensions: int | None = Field(default=None, ge=1, le=MAX_EMBEDDING_DIMENSIONS)
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("must not be an empty list")
        if isinstance(v, list) and len(v) > 2048:
            raise ValueError("at most 2048 inputs per request")
        return v


def usage_dict(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> JSONObject:
    usage: JSONObject = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return usage


def chat_completion(
    *,
    id: str,
    model: str,
    choices: list[JSONObject],
    usage: JSONObject,
    created: int | None = None,
    system_fingerprint: str | None = None,
) -> JSONObject:
    body: JSONObject = {
        "id": id,
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    # The spec types it as a string: a backend with no fingerprint leaves it out rather than null.
    if system_fingerprint is not None:
        body["system_fingerprint"] = system_fingerprint
    return body


def chat_choice(index: int, content: str | None, finish_reason: FinishReason, **message: Any) -> JSONObject:
    return {
        "index": index,
        "message": {"role": "assistant", "content": content, "refusal": None, **message},
        "logprobs": None,
        "finish_reason": finish_reason,
    }


def chat_chunk(
    *,
    id: str,
    model: str,
    created: int,
    delta: JSONObject,
    finish_reason: FinishReason | None = None,
    index: int = 0,
    system_fingerprint: str | None = None,
) -> JSONObject:
    chunk: JSONObject = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if system_fingerprint is not None:
        chunk["system_fingerprint"] = system_fingerprint
    return chunk


def usage_chunk(*, id: str, model: str, created: int, usage: JSONObject) -> JSONObject:
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }


def text_completion(
    *, id: str, model: str, choices: list[JSONObject], usage: JSONObject, created: int | None = None
) -> JSONObject:
    return {
        "id": id,
        "object": "text_completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def text_choice(index: int, text: str, finish_reason: FinishReason) -> JSONObject:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}


def model_object(id: str, owned_by: str, created: int = 0) -> JSONObject:
    return {"id": id, "object": "model", "created": created, "owned_by": owned_by}
