"""Between OpenAI's wire shape and llama.cpp's: request bodies, errors, and reassembled replies.

llama.cpp's server speaks an OpenAI dialect but accepts many more fields (slot ids, grammars,
LoRA scales, samplers...). Only the fields below reach it, so a client cannot steer the engine
past what the OpenAI API allows; a field modelrail cannot honour is refused, not ignored.
"""

from __future__ import annotations

from typing import Any

from modelrail.errors import ContextWindowExceeded, InvalidRequest, ModelrailError, Overloaded, UpstreamError
from modelrail.protocol import openai as oa
from modelrail.protocol.base import JSONObject

_CHAT_PASSTHROUGH = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
)
_COMPLETION_PASSTHROUGH = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logit_bias")
# OpenAI's default for legacy completions; llama.cpp's would be "until the context is full".
_COMPLETION_DEFAULT_MAX_TOKENS = 16
# llama.cpp reads this seed as "pick one at random".
_RANDOM_SEED = 0xFFFFFFFF


def chat_body(params: oa.ChatCompletionRequest, body: JSONObject) -> JSONObject:
    if params.n not in (None, 1):
        raise InvalidRequest("The local model returns one choice per request; 'n' must be 1.", param="n")
    if params.logprobs:
        raise InvalidRequest("The local model does not return logprobs.", param="logprobs")
    out: JSONObject = {"messages": body["messages"]}
    _common(out, params, body, _CHAT_PASSTHROUGH)
    cap = params.output_cap()
    if cap is not None:
        out["max_tokens"] = cap
    return out


def completion_body(params: oa.CompletionRequest, body: JSONObject) -> JSONObject:
    if params.n not in (None, 1) or params.best_of not in (None, 1):
        raise InvalidRequest("The local model returns one choice per request; 'n' must be 1.", param="n")
    for field in ("echo", "suffix", "logprobs"):
        if getattr(params, field) not in (None, False):
            raise InvalidRequest(f"The local model does not support '{field}' on completions.", param=field)
    out: JSONObject = {"prompt": _single_prompt(params.prompt)}
    _common(out, params, body, _COMPLETION_PASSTHROUGH)
    out["max_tokens"] = params.max_tokens or _COMPLETION_DEFAULT_MAX_TOKENS
    return out


def _common(out: JSONObject, params: oa.SamplingParams, body: JSONObject, fields: tuple[str, ...]) -> None:
    for key in fields:
        if body.get(key) is not None:
            out[key] = body[key]
    stop = params.stop_list()
    if stop:
        out["stop"] = stop
    if params.seed is not None:
        # OpenAI's seed is any integer; llama.cpp's is 32-bit, with one value meaning "random".
        seed = params.seed & 0xFFFFFFFF
        out["seed"] = seed ^ 1 if seed == _RANDOM_SEED else seed
    out["stream"] = True
    out["stream_options"] = {"include_usage": True}


def _single_prompt(prompt: Any) -> str | list[int]:
    if isinstance(prompt, str):
        return prompt
    if prompt and all(isinstance(t, int) for t in prompt):
        return list(prompt)
    if len(prompt) == 1:
        return _single_prompt(prompt[0])
    raise InvalidRequest("The local model takes one prompt per request.", param="prompt")


def engine_error(chunk: JSONObject) -> ModelrailError | None:
    """The error a llama.cpp chunk carries, in modelrail's tree; None for an ordinary chunk."""
    err = chunk.get("error")
    if err is None and "choices" not in chunk and "message" in chunk:
        err = chunk
    if err is None:
        return None
    if not isinstance(err, dict):
        return UpstreamError(f"local model: {err}")
    message = f"local model: {err.get('message') or 'unknown error'}"
    kind = err.get("type")
    if kind == "exceed_context_size_error":
        return ContextWindowExceeded(message, param="messages")
    if kind in ("invalid_request_error", "not_supported_error"):
        return InvalidRequest(message)
    if kind == "unavailable_error":
        return Overloaded(message, headers={"Retry-After": "1"})
    return UpstreamError(message, upstream_status=_int(err.get("code")))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def usage_from(raw: Any) -> JSONObject:
    raw = raw if isinstance(raw, dict) else {}
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
    return oa.usage_dict(int(raw.get("prompt_tokens", 0)), int(raw.get("completion_tokens", 0)), int(cached))


def delta_of(raw: Any) -> JSONObject:
    """The parts of a llama.cpp delta a client sees: text, reasoning text and tool-call pieces."""
    if not isinstance(raw, dict):
        return {}
    delta: JSONObject = {}
    for key in ("content", "reasoning_content"):
        if isinstance(raw.get(key), str) and raw[key]:
            delta[key] = raw[key]
    if raw.get("tool_calls"):
        delta["tool_calls"] = raw["tool_calls"]
    return delta


class ChatReply:
    """Builds one chat.completion from the chunks of its stream."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, JSONObject] = {}
        self.finish_reason: oa.FinishReason = "stop"
        self.usage: JSONObject = oa.usage_dict(0, 0)

    def add(self, chunk: JSONObject) -> None:
        if "usage" in chunk and chunk["usage"] is not None:
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            if delta.get("reasoning_content"):
                self.reasoning.append(delta["reasoning_content"])
            for call in delta.get("tool_calls") or ():
                self._merge_tool_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _merge_tool_call(self, piece: JSONObject) -> None:
        slot = self.tool_calls.setdefault(
            int(piece.get("index", 0)), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if piece.get("id"):
            slot["id"] = piece["id"]
        fn = piece.get("function") or {}
        slot["function"]["name"] += fn.get("name") or ""
        slot["function"]["arguments"] += fn.get("arguments") or ""

    def choice(self) -> JSONObject:
        extra: JSONObject = {}
        if self.reasoning:
            extra["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            extra["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        content = "".join(self.content) if self.content or not self.tool_calls else None
        return oa.chat_choice(0, content, self.finish_reason, **extra)
