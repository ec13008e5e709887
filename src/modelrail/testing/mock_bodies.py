"""The bodies the mock OpenAI upstream answers with, in OpenAI's exact wire format.

Pure functions of the parsed request and a few settings, so they can be read (and tested) apart
from the ASGI plumbing in ``mock_openai``. Deliberately independent of modelrail's own protocol
builders: the mock is the reference modelrail is tested against, so it must not share its code.

Token counts are a stand-in: a prompt token is a whitespace-separated word, a completion token is
one streamed piece. They are deterministic, which is what tests need.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

import orjson

JSON = dict[str, Any]

DONE_FRAME = b"data: [DONE]\n\n"
# A fixed creation time for listed models, so /v1/models is byte-for-byte stable.
MODEL_CREATED = 1_700_000_000
FINGERPRINT = "fp_mock"


class RequestError(Exception):
    """A request the real API would refuse with a 400; carries OpenAI's ``param``."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True, frozen=True)
class StreamPlan:
    """SSE frames of one streamed answer. Frames in ``[first_content, content_end)`` carry content;
    the per-chunk delay is spent before each of them except the first (that one waits for TTFT)."""

    frames: list[bytes]
    first_content: int
    content_end: int


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def frame(obj: JSON) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def split_text(text: str, parts: int) -> list[str]:
    """Cut ``text`` into at most ``parts`` non-empty pieces that join back to it exactly.

    Cuts at word boundaries when there are enough words, else between characters, so a reply of
    any length streams in the configured number of chunks where it can.
    """
    if not text:
        return []
    parts = max(1, parts)
    words = text.split(" ")
    units = [w + " " for w in words[:-1]] + [words[-1]]
    units = [u for u in units if u]
    if len(units) < parts:
        units = list(text)
    count = min(parts, len(units))
    size, extra = divmod(len(units), count)
    pieces: list[str] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append("".join(units[start:end]))
        start = end
    return pieces


def count_words(value: Any) -> int:
    """Words in a prompt-like value: a string, content parts, messages, or token arrays."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, int):
        return 1
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        if "content" in value:
            return count_words(value["content"])
        text = value.get("text")
        return count_words(text) if isinstance(text, str) else 0
    return 0


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def usage(prompt: int, completion: int) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def require_model(body: JSON) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("you must provide a model parameter", "model")
    return model


def choice_count(body: JSON) -> int:
    n = body.get("n", 1)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise RequestError(f"{n!r} is not valid for 'n': expected an integer from 1 to 128.", "n")
    return n


def limit_pieces(body: JSON, pieces: list[str]) -> tuple[list[str], str]:
    """Apply ``max_completion_tokens``/``max_tokens``, counting one token per piece."""
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(pieces):
        return pieces[:limit], "length"
    return pieces, "stop"


def include_usage(body: JSON) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def forced_tool(body: JSON) -> str | None:
    """The function the request forces a call to (``tool_choice`` "required" or named), if any."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        return name if isinstance(name, str) else None
    if choice == "required":
        first = tools[0].get("function") if isinstance(tools[0], dict) else None
        name = first.get("name") if isinstance(first, dict) else None
        return name if isinstance(name, str) else None
    return None


def chat_messages(body: JSON) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array of message objects.", "messages")
    return messages


def chat_completion(body: JSON, pieces: list[str], *, id_: str, created: int, tool_args: str, call_id: str) -> JSON:
    model = require_model(body)
    messages = chat_messages(body)
    n = choice_count(body)
    tool = forced_tool(body)
    message: JSON
    if tool is not None:
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": tool, "arguments": tool_args}}],
        }
        finish, completion = "tool_calls", max(1, len(split_text(tool_args, len(pieces) or 1)))
    else:
        kept, finish = limit_pieces(body, pieces)
        message = {"role": "assistant", "content": "".join(kept), "refusal": None, "annotations": []}
        completion = len(kept)
    choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)]
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage(count_words(messages), completion * n),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chat_stream(body: JSON, pieces: list[str], *, id_: str, created: int, tool_args: str, call_id: str) -> StreamPlan:
    model = require_model(body)
    messages = chat_messages(body)
    n = choice_count(body)
    tool = forced_tool(body)
    with_usage = include_usage(body)
    base: JSON = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if with_usage:
        base["usage"] = None

    def chunk(index: int, delta: JSON, finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return frame({**base, "choices": [choice]})

    frames: list[bytes] = []
    if tool is not None:
        arg_pieces = split_text(tool_args, len(pieces) or 1)
        for i in range(n):
            call = {"index": 0, "id": call_id, "type": "function", "function": {"name": tool, "arguments": ""}}
            delta = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
            frames.append(chunk(i, delta))
        first = len(frames)
        for piece in arg_pieces:
            for i in range(n):
                frames.append(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        finish, completion = "tool_calls", max(1, len(arg_pieces))
    else:
        kept, finish = limit_pieces(body, pieces)
        frames.extend(chunk(i, {"role": "assistant", "content": "", "refusal": None}) for i in range(n))
        first = len(frames)
        for piece in kept:
            frames.extend(chunk(i, {"content": piece}) for i in range(n))
        completion = len(kept)
    end = len(frames)
    frames.extend(chunk(i, {}, finish) for i in range(n))
    if with_usage:
        frames.append(frame({**base, "choices": [], "usage": usage(count_words(messages), completion * n)}))
    frames.append(DONE_FRAME)
    return StreamPlan(frames, first, end)


def completion_prompt(body: JSON) -> str:
    if "prompt" not in body:
        raise RequestError("you must provide a prompt parameter", "prompt")
    prompt = body["prompt"]
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prompt[0]
    if isinstance(prompt, list):
        return ""
    raise RequestError("'prompt' must be a string, an array of strings, or token arrays.", "prompt")


def text_completion(body: JSON, pieces: list[str], *, id_: str, created: int) -> JSON:
    model = require_model(body)
    prompt = completion_prompt(body)
    n = choice_count(body)
    kept, finish = limit_pieces(body, pieces)
    text = (prompt if body.get("echo") is True else "") + "".join(kept)
    choices = [{"text": text, "index": i, "logprobs": None, "finish_reason": finish} for i in range(n)]
    used = usage(count_words(body["prompt"]), len(kept) * n)
    return {
        "id": id_,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {k: used[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
        "system_fingerprint": FINGERPRINT,
    }


def text_completion_stream(body: JSON, pieces: list[str], *, id_: str, created: int) -> StreamPlan:
    model = require_model(body)
    prompt = completion_prompt(body)
    n = choice_count(body)
    kept, finish = limit_pieces(body, pieces)
    if body.get("echo") is True and prompt:
        kept = [prompt, *kept]
    base: JSON = {
        "id": id_,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(index: int, text: str, finish: str | None = None) -> bytes:
        choice = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
        return frame({**base, "choices": [choice]})

    frames = [chunk(i, piece) for piece in kept for i in range(n)]
    end = len(frames)
    frames.extend(chunk(i, "", finish) for i in range(n))
    if include_usage(body):
        used = usage(count_words(body["prompt"]), len(kept) * n)
        totals = {k: used[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        frames.append(frame({**base, "choices": [], "usage": totals}))
    frames.append(DONE_FRAME)
    return StreamPlan(frames, 0, end)


def embedding_vector(text: str, dims: int) -> list[float]:
    """A unit vector that depends only on ``text`` and ``dims``: equal inputs embed equally."""
    raw = hashlib.shake_256(text.encode()).digest(2 * dims)
    ints = struct.unpack(f"<{dims}h", raw)
    norm = math.sqrt(sum(i * i for i in ints)) or 1.0
    return [i / norm for i in ints]


def embedding_inputs(body: JSON) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        items = [value]
    elif isinstance(value, list) and value:
        items = value
    else:
        raise RequestError("'input' must be a non-empty string, array of strings, or token arrays.", "input")
    texts: list[str] = []
    for item in items:
        if isinstance(item, str) and item:
            texts.append(item)
        elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            texts.append(" ".join(map(str, item)))
        else:
            raise RequestError("'input' must not contain empty strings or empty token arrays.", "input")
    return texts


def embedding_dims(body: JSON, model: str, configured: int | None) -> int:
    native = configured or (3072 if "large" in model else 1536)
    dims = body.get("dimensions")
    if dims is None:
        return native
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= native:
        raise RequestError(f"'dimensions' must be an integer from 1 to {native}.", "dimensions")
    return dims


def embeddings(body: JSON, configured_dims: int | None) -> JSON:
    model = require_model(body)
    texts = embedding_inputs(body)
    dims = embedding_dims(body, model, configured_dims)
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise RequestError("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    data: list[JSON] = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dims)
        embedded: Any = vector
        if encoding == "base64":
            embedded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedded})
    tokens = count_words(texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def model_object(model_id: str) -> JSON:
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": "openai"}


def model_list(models: tuple[str, ...]) -> JSON:
    return {"object": "list", "data": [model_object(m) for m in models]}
