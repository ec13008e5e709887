"""Wire models: OpenAI's and Anthropic's request, response and chunk types, and the translation
between them. Unknown fields of an OpenAI request pass through to OpenAI-compatible upstreams."""

from modelrail.protocol.anthropic import MessagesRequest, to_chat_body
from modelrail.protocol.base import JSONObject, WireModel, validate
from modelrail.protocol.openai import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "EmbeddingRequest",
    "JSONObject",
    "MessagesRequest",
    "WireModel",
    "to_chat_body",
    "validate",
]
