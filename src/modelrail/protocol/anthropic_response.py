"""OpenAI chat answers turned into Anthropic Messages API answers: a ``message``, its stream events,
and the error object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelrail.errors import ModelrailError
from modelrail.protocol.base import JSONObject

_STOP_REASONS = {
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error types by HTTP status; any other 4xx is an invalid request, any other 5xx an api_error.
_ERROR_TYPES = {
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def error_body(exc: ModelrailError, request_id: str | None = None) -> JSONObject:
    status = exc.status
    kind = _ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")
    body: JSONObject = {"type": "error", "error": {"type": kind, "message": exc.message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def stop_reason(choice: JSONObject, stop_sequences: Sequence[str]) -> tuple[str, str | None]:
    """Anthropic's ``stop_reason`` and ``stop_sequence`` for an OpenAI choice's finish.

    OpenAI's ``stop`` covers both a natural end and a stop sequence; servers that say which
    sequence matched (vLLM's ``stop_reason``) let the two be told apart, otherwise it is end_turn.
    """
    finish = choice.get("finish_reason")
    if finish == "stop" or not isinstance(finish, str):
        matched = choice.get("stop_reason")
        if isinstance(matched, str) and matched in stop_sequences:
            return "stop_sequence", matched
        return "end_turn", None
    return _STOP_REASONS.get(finish, "end_turn"), None


def usage_of(usage: Any) -> JSONObject:
    """Anthropic's usage from an upstream's OpenAI usage; counts that are not whole numbers from 0 are 0
    (the ledger distrusts them the same way, in ``context.Usage``)."""
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": _count(usage.get("prompt_tokens")), "output_tokens": _count(usage.get("completion_tokens"))}


def _count(value: Any) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**53:
        return int(value)
    return 0


# What follows reads an upstream's answer, which providers pass on as parsed JSON: any field may have any
# type, and a wrong one is treated as absent rather than allowed to raise (a 500, or a broken stream).


def _dict(value: Any) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[JSONObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def tool_input(arguments: Any) -> JSONObject:
    """A tool call's arguments as the object Anthropic's ``input`` is; a model's broken JSON stays visible."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is not None and not isinstance(arguments, str):
        return {"_arguments": arguments}
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"_arguments": arguments}
    return value if isinstance(value, dict) else {"_arguments": value}


def from_chat_completion(result: JSONObject, *, message_id: str, stop_sequences: Sequence[str]) -> JSONObject:
    choice = (_dicts(result.get("choices")) or [{}])[0]
    msg = _dict(choice.get("message"))
    calls = _dicts(msg.get("tool_calls"))
    content: list[JSONObject] = []
    if _str(msg.get("content")):
        content.append({"type": "text", "text": msg["content"]})
    for call in calls:
        function = _dict(call.get("function"))
        content.append(
            {
                "type": "tool_use",
                "id": _str(call.get("id")) or f"toolu_{len(content)}",
                "name": _str(function.get("name")),
                "input": tool_input(function.get("arguments")),
            }
        )
    reason, sequence = stop_reason(choice, stop_sequences)
    if reason == "end_turn" and calls:
        reason = "tool_use"  # some servers finish a tool call with "stop"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": _str(result.get("model")),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of(result.get("usage")),
    }


@dataclass(slots=True)
class StreamTranslator:
    """Turns ``chat.completion.chunk`` dicts into Anthropic stream events, one chunk at a time.

    Anthropic's content blocks are sequential: a new text run or tool call closes the block before
    it. Input tokens are not known until the upstream's usage chunk at the end, so message_start
    says 0 and message_delta carries the real count (the SDKs take it from there).
    """

    message_id: str
    model: str
    stop_sequences: Sequence[str] = ()
    started: bool = False
    block: int = -1  # index of the open block, -1 when none is open
    block_type: str | None = None
    tool_blocks: dict[int, int] = field(default_factory=dict)  # OpenAI tool_call index -> block index
    blocks: int = 0
    reason: str = "end_turn"
    sequence: str | None = None
    usage: JSONObject = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    usage_seen: bool = False

    def start(self, model: str | None = None) -> list[JSONObject]:
        self.started = True
        message: JSONObject = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": model or self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [{"type": "message_start", "message": message}]

    def feed(self, chunk: JSONObject) -> list[JSONObject]:
        events = [] if self.started else self.start(_str(chunk.get("model")))
        if isinstance(chunk.get("usage"), dict) and chunk["usage"]:
            self.usage, self.usage_seen = usage_of(chunk["usage"]), True
        for choice in _dicts(chunk.get("choices")):
            if choice.get("index", 0) != 0:
                continue
            delta = _dict(choice.get("delta"))
            text = _str(delta.get("content"))
            if text:
                if self.block_type != "text":
                    events += self._open({"type": "text", "text": ""})
                events.append(self._delta({"type": "text_delta", "text": text}))
            for call in _dicts(delta.get("tool_calls")):
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.reason, self.sequence = stop_reason(choice, self.stop_sequences)
                if self.reason == "end_turn" and self.tool_blocks:
                    self.reason = "tool_use"
        return events

    def finish(self) -> list[JSONObject]:
        events = [] if self.started else self.start()
        events += self._close()
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.reason, "stop_sequence": self.sequence},
                "usage": dict(self.usage),
            }
        )
        events.append({"type": "message_stop"})
        return events

    def _tool_delta(self, call: JSONObject) -> list[JSONObject]:
        events: list[JSONObject] = []
        index = call.get("index", 0)
        if type(index) is not int:
            index = 0
        function = _dict(call.get("function"))
        if index not in self.tool_blocks:
            block = {
                "type": "tool_use",
                "id": _str(call.get("id")) or f"toolu_{self.message_id}_{index}",
                "name": _str(function.get("name")),
                "input": {},
            }
            events += self._open(block)
            self.tool_blocks[index] = self.block
        arguments = _str(function.get("arguments"))
        if arguments:
            events.append(
                {
                    "type": "content_block_delta",
                    "index": self.tool_blocks[index],
                    "delta": {"type": "input_json_delta", "partial_json": arguments},
                }
            )
        return events

    def _open(self, block: JSONObject) -> list[JSONObject]:
        events = self._close()
        self.block, self.block_type = self.blocks, str(block["type"])
        self.blocks += 1
        events.append({"type": "content_block_start", "index": self.block, "content_block": block})
        return events

    def _close(self) -> list[JSONObject]:
        if self.block < 0:
            return []
        closed, self.block, self.block_type = self.block, -1, None
        return [{"type": "content_block_stop", "index": closed}]

    def _delta(self, delta: JSONObject) -> JSONObject:
        return {"type": "content_block_delta", "index": self.block, "delta": delta}
