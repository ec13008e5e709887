"""Anthropic Messages API request models, and their translation to the OpenAI chat body.

Every provider takes OpenAI-shaped chat bodies, so a ``POST /v1/messages`` request is translated
once here and then travels the same path as a chat completion. What the chat shape cannot carry is
dropped rather than passed on: ``top_k`` (OpenAI's API refuses unknown fields), a tool result's
``is_error`` flag and images inside tool results (OpenAI's tool messages hold text only).
The way back (a ``chat.completion`` or its chunks to a ``message`` or its events) is in
``anthropic_response``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, model_validator

from modelrail.errors import InvalidRequest
from modelrail.protocol.base import JSONObject, WireModel

MAX_STOP_SEQUENCES = 4


class TextBlock(WireModel):
    type: Literal["text"]
    text: str


class ImageSource(WireModel):
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> ImageSource:
        if self.type == "base64" and not (self.media_type and self.data):
            raise ValueError("a base64 image source needs 'media_type' and 'data'")
        if self.type == "url" and not self.url:
            raise ValueError("a url image source needs 'url'")
        return self

    def as_url(self) -> str:
        if self.type == "url":
            assert self.url is not None
            return self.url
        return f"data:{self.media_type};base64,{self.data}"


class ImageBlock(WireModel):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(WireModel):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: JSONObject = Field(default_factory=dict)


ResultPart = Annotated[TextBlock | ImageBlock, Field(discriminator="type")]


class ToolResultBlock(WireModel):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: str | list[ResultPart] | None = None
    is_error: bool | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        return "\n".join(p.text for p in self.content if isinstance(p, TextBlock))


ContentBlock = Annotated[TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")]


class Message(WireModel):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]

    @model_validator(mode="after")
    def _blocks_fit_role(self) -> Message:
        if isinstance(self.content, list):
            wrong = "tool_result" if self.role == "assistant" else "tool_use"
            if any(b.type == wrong for b in self.content):
                raise ValueError(f"a '{self.role}' message cannot hold '{wrong}' blocks")
        return self


class Tool(WireModel):
    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: JSONObject


class ToolChoice(WireModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None

    @model_validator(mode="after")
    def _named(self) -> ToolChoice:
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type 'tool' needs a 'name'")
        return self


class Metadata(WireModel):
    user_id: str | None = None


class MessagesRequest(WireModel):
    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[Message] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    # Every request travels as an OpenAI chat body, which carries at most 4 stop sequences; refusing more here
    # names the field the client sent rather than the chat body's 'stop'.
    stop_sequences: list[str] | None = Field(default=None, max_length=MAX_STOP_SEQUENCES)
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stream: bool | None = False
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None

    def system_text(self) -> str | None:
        if self.system is None or isinstance(self.system, str):
            return self.system or None
        return "\n".join(b.text for b in self.system) or None


def to_chat_body(req: MessagesRequest) -> JSONObject:
    """The OpenAI chat completion body that asks the same of a model as ``req``."""
    messages: list[JSONObject] = []
    system = req.system_text()
    if system is not None:
        messages.append({"role": "system", "content": system})
    for message in req.messages:
        messages.extend(_chat_messages(message))
    body: JSONObject = {"model": req.model, "messages": messages, "max_tokens": req.max_tokens}
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop_sequences:
        body["stop"] = list(req.stop_sequences)
    if req.stream:
        body["stream"] = True
        # message_delta reports usage, so the stream must end with the upstream's usage chunk.
        body["stream_options"] = {"include_usage": True}
    if req.tools:
        body["tools"] = [_chat_tool(t) for t in req.tools]
    if req.tool_choice is not None:
        body.update(_chat_tool_choice(req.tool_choice))
    if req.metadata is not None and req.metadata.user_id:
        body["user"] = req.metadata.user_id
    return body


def _chat_messages(message: Message) -> list[JSONObject]:
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    if message.role == "assistant":
        return [_assistant_message(message.content)]
    out: list[JSONObject] = []
    parts: list[JSONObject] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            # OpenAI wants each tool answer as its own message, right after the assistant's call.
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": block.text()})
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append({"type": "image_url", "image_url": {"url": block.source.as_url()}})
    if parts or not out:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_message(blocks: list[Any]) -> JSONObject:
    text = "".join(b.text for b in blocks if isinstance(b, TextBlock))
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": orjson.dumps(b.input).decode()},
        }
        for b in blocks
        if isinstance(b, ToolUseBlock)
    ]
    if any(isinstance(b, ImageBlock) for b in blocks):
        raise InvalidRequest("An 'assistant' message cannot hold 'image' blocks.", param="messages")
    out: JSONObject = {"role": "assistant", "content": text or None}
    if calls:
        out["tool_calls"] = calls
    return out


def _chat_tool(tool: Tool) -> JSONObject:
    function: JSONObject = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description is not None:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: ToolChoice) -> JSONObject:
    out: JSONObject = {}
    if choice.type == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
    if choice.disable_parallel_tool_use and choice.type != "none":
        out["parallel_tool_calls"] = False
    return out
