"""Properties of the wire models and of the OpenAI ⇄ Anthropic translation, without the app.

- round trip: a valid request survives validate → dump → validate unchanged, and its dump is the body sent;
- the Anthropic request translates to a chat body that modelrail itself accepts, carrying text, images,
  tool calls, tool results, the system prompt and the sampling fields;
- a chat answer translates back keeping text, tool calls, stop reason and usage, and the stream
  translation of the same answer, cut into chunks anywhere, says exactly what the unary one says.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from modelrail.protocol import openai as oa
from modelrail.protocol.anthropic import MessagesRequest, to_chat_body
from modelrail.protocol.anthropic_response import StreamTranslator, from_chat_completion
from modelrail.protocol.base import invalid_request_from
from modelrail.protocol.openai import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from tests.fuzz.conftest import (
    FUZZ,
    anthropic_requests,
    chat_completions,
    chat_requests,
    completion_requests,
    embedding_requests,
    from_model,
    hostile,
)

pytestmark = pytest.mark.fuzz

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

HAND_WRITTEN: list[tuple[type[BaseModel], st.SearchStrategy[dict[str, Any]]]] = [
    (ChatCompletionRequest, chat_requests(stream=None)),
    (CompletionRequest, completion_requests(stream=None)),
    (EmbeddingRequest, embedding_requests()),
    (MessagesRequest, anthropic_requests(stream=None)),
]
MODELS = [ChatCompletionRequest, CompletionRequest, EmbeddingRequest, MessagesRequest]


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


@pytest.mark.parametrize(("model", "bodies"), HAND_WRITTEN, ids=lambda v: getattr(v, "__name__", ""))
@FUZZ
@given(data=st.data())
def test_valid_request_round_trips_exactly(model: type[BaseModel], bodies: Any, data: st.DataObject) -> None:
    body = data.draw(bodies)
    parsed = model.model_validate(body)
    dumped = parsed.model_dump(mode="json", exclude_unset=True)
    assert dumped == _json(body), "the typed view lost or changed a field"
    again = model.model_validate(dumped)
    assert again == parsed


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_schema_derived_request_round_trips(model: type[BaseModel], data: st.DataObject) -> None:
    body = data.draw(from_model(model))
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        # The schema does not carry the model validators; such a body must still become a clean 400.
        error = invalid_request_from(exc)
        assert error.status == 400 and error.message
        return
    dumped = parsed.model_dump(mode="json")
    again = model.model_validate(dumped)
    assert again == parsed
    assert again.model_dump(mode="json") == dumped


def _text_of(content: Any, sep: str = "") -> str:
    if isinstance(content, str):
        return content
    return sep.join(part["text"] for part in content or [] if part.get("type") == "text")


@FUZZ
@given(body=anthropic_requests())
def test_anthropic_request_translates_to_an_equivalent_chat_request(body: dict[str, Any]) -> None:
    req = MessagesRequest.model_validate(body)
    chat = to_chat_body(req)
    # modelrail validates the translation as a chat request: a valid Anthropic request must pass.
    ChatCompletionRequest.model_validate(chat)
    messages = list(chat["messages"])

    system = req.system_text()
    if system is not None:
        assert messages.pop(0) == {"role": "system", "content": system}
    assert all(m["role"] != "system" for m in messages)

    calls = {c["id"]: c for m in messages for c in m.get("tool_calls") or []}
    answers = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    for message in body["messages"]:
        blocks = message["content"]
        if isinstance(blocks, str):
            assert {"role": message["role"], "content": blocks} in messages
            continue
        for block in blocks:
            if block["type"] == "tool_use":
                function = calls[block["id"]]["function"]
                assert function["name"] == block["name"]
                assert orjson.loads(function["arguments"]) == _json(block["input"])
            elif block["type"] == "tool_result":
                assert answers[block["tool_use_id"]] == _text_of(block["content"], "\n")
        texts = "".join(b["text"] for b in blocks if b["type"] == "text")
        if message["role"] == "assistant":
            assert any(m["role"] == "assistant" and (m["content"] or "") == texts for m in messages)
        elif texts:
            assert any(m["role"] == "user" and _text_of(m["content"]) == texts for m in messages)
        images = [b["source"] for b in blocks if b["type"] == "image"]
        urls = [
            p["image_url"]["url"]
            for m in messages
            if isinstance(m["content"], list)
            for p in m["content"]
            if p["type"] == "image_url"
        ]
        for source in images:
            want = source.get("url") or f"data:{source['media_type']};base64,{source['data']}"
            assert want in urls

    assert chat["max_tokens"] == body["max_tokens"]
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        assert chat.get(theirs) == body.get(ours)
    assert chat.get("stop", []) == (body.get("stop_sequences") or [])
    assert chat.get("user") == (body.get("metadata") or {}).get("user_id")
    assert [t["function"]["name"] for t in chat.get("tools", [])] == [t["name"] for t in body.get("tools") or []]
    choice = body.get("tool_choice")
    if choice is not None:
        expected = {"auto": "auto", "any": "required", "none": "none"}.get(choice["type"])
        if expected is None:
            expected = {"type": "function", "function": {"name": choice["name"]}}
        assert chat["tool_choice"] == expected


@FUZZ
@given(body=anthropic_requests())
def test_assistant_turn_round_trips_through_a_chat_message(body: dict[str, Any]) -> None:
    """An assistant turn sent as history, read back as if a model had answered it, gives the same blocks."""
    chat = to_chat_body(MessagesRequest.model_validate(body))
    sent = [m for m in body["messages"] if m["role"] == "assistant"]
    translated = [m for m in chat["messages"] if m["role"] == "assistant"]
    assert len(sent) == len(translated)
    for original, message in zip(sent, translated, strict=True):
        result = {"choices": [{"message": message, "finish_reason": "tool_calls"}], "usage": None}
        back = from_chat_completion(result, message_id="msg_x", stop_sequences=())
        text = "".join(b["text"] for b in original["content"] if b["type"] == "text")
        expected = ([{"type": "text", "text": text}] if text else []) + [
            {**b, "input": _json(b["input"])} for b in original["content"] if b["type"] == "tool_use"
        ]
        assert back["content"] == expected
        assert back["stop_reason"] == "tool_use"


def _expected_message(
    result: dict[str, Any], stops: list[str]
) -> tuple[str, list[dict[str, Any]], str, dict[str, int]]:
    choice = result["choices"][0]
    message = choice["message"]
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "input": orjson.loads(c["function"]["arguments"])}
        for c in message.get("tool_calls") or []
    ]
    reason = STOP_REASONS[choice["finish_reason"]]
    if reason == "end_turn" and calls:
        reason = "tool_use"
    usage = {"input_tokens": result["usage"]["prompt_tokens"], "output_tokens": result["usage"]["completion_tokens"]}
    return message["content"] or "", calls, reason, usage


@FUZZ
@given(result=chat_completions())
def test_chat_answer_translates_back(result: dict[str, Any]) -> None:
    text, calls, reason, usage = _expected_message(result, [])
    message = from_chat_completion(result, message_id="msg_1", stop_sequences=())
    assert message["type"] == "message" and message["role"] == "assistant" and message["id"] == "msg_1"
    assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == text
    uses = [{k: b[k] for k in ("id", "name", "input")} for b in message["content"] if b["type"] == "tool_use"]
    assert uses == calls
    assert message["stop_reason"] == reason
    assert message["usage"] == usage


def _chunks(result: dict[str, Any], cuts: list[int]) -> list[dict[str, Any]]:
    """The chunks a streaming upstream would send for ``result``: text and arguments cut at ``cuts``."""
    choice = result["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: Any = None) -> dict[str, Any]:
        return oa.chat_chunk(id=result["id"], model=result["model"], created=0, delta=delta, finish_reason=finish)

    def pieces(value: str) -> list[str]:
        points = sorted({c % (len(value) + 1) for c in cuts} | {0, len(value)})
        return [value[a:b] for a, b in itertools.pairwise(points) if value[a:b]]

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": p}) for p in pieces(message["content"] or "")]
    for index, call in enumerate(message.get("tool_calls") or []):
        head = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
        out.append(chunk({"tool_calls": [head]}))
        for p in pieces(call["function"]["arguments"]):
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}))
    out.append(chunk({}, choice["finish_reason"]))
    out.append(oa.usage_chunk(id=result["id"], model=result["model"], created=0, usage=result["usage"]))
    return out


@FUZZ
@given(result=chat_completions(), cuts=st.lists(st.integers(0, 1000), max_size=6))
def test_stream_translation_says_what_the_unary_one_says(result: dict[str, Any], cuts: list[int]) -> None:
    translator = StreamTranslator(message_id="msg_1", model=result["model"])
    events: list[dict[str, Any]] = []
    for chunk in _chunks(result, cuts):
        events += translator.feed(chunk)
    events += translator.finish()

    assert events[0]["type"] == "message_start"
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    blocks: dict[int, dict[str, Any]] = {}
    open_block: int | None = None
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_block is None, "a block opened before the previous one closed"
            open_block = event["index"]
            assert open_block == len(blocks)
            blocks[open_block] = {**event["content_block"], "json": ""}
        elif kind == "content_block_delta":
            assert event["index"] == open_block
            delta = event["delta"]
            if delta["type"] == "text_delta":
                blocks[open_block]["text"] += delta["text"]
            else:
                blocks[open_block]["json"] += delta["partial_json"]
        else:
            assert kind == "content_block_stop" and event["index"] == open_block
            open_block = None
    assert open_block is None

    streamed = []
    for block in blocks.values():
        if block["type"] == "text":
            streamed.append({"type": "text", "text": block["text"]})
        else:
            streamed.append(
                {
                    "type": "tool_use",
                    "id": block["id"],
                    "name": block["name"],
                    "input": orjson.loads(block["json"] or "{}"),
                }
            )
    unary = from_chat_completion(result, message_id="msg_1", stop_sequences=())
    assert streamed == unary["content"]
    assert events[-2]["delta"] == {"stop_reason": unary["stop_reason"], "stop_sequence": None}
    assert events[-2]["usage"] == unary["usage"]


ANTHROPIC_STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"}


def _well_formed_usage(usage: dict[str, Any]) -> None:
    assert set(usage) == {"input_tokens", "output_tokens"}
    assert all(type(v) is int and v >= 0 for v in usage.values()), usage


def _well_formed_block(block: dict[str, Any]) -> None:
    if block["type"] == "text":
        assert isinstance(block["text"], str)
    else:
        assert block["type"] == "tool_use"
        assert isinstance(block["id"], str) and block["id"] and isinstance(block["name"], str)
        assert isinstance(block["input"], dict)


@FUZZ
@given(result=hostile(chat_completions()).filter(lambda r: isinstance(r, dict)))
@example(result={"choices": [None]})
@example(result={"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "abc"}})
@example(result={"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1e400}})
@example(result={"choices": [{"message": {"tool_calls": [{"function": {"arguments": 5}}]}}]})
def test_any_upstream_answer_translates_to_a_well_formed_message(result: dict[str, Any]) -> None:
    """Providers pass an upstream's parsed JSON on: whatever its fields hold, the message is well formed.
    Found: usage.prompt_tokens "abc" or 1e400 raised (ValueError, OverflowError), choices [null] raised
    AttributeError: a 500 on /v1/messages for a body the ledger had already learnt to distrust."""
    message = from_chat_completion(result, message_id="msg_1", stop_sequences=("END",))
    assert message["stop_reason"] in ANTHROPIC_STOP_REASONS
    assert message["stop_sequence"] in (None, "END")
    assert isinstance(message["model"], str)
    for block in message["content"]:
        _well_formed_block(block)
    _well_formed_usage(message["usage"])


@FUZZ
@given(result=chat_completions(), cuts=st.lists(st.integers(0, 1000), max_size=4), data=st.data())
def test_any_upstream_stream_translates_to_well_formed_events(
    result: dict[str, Any], cuts: list[int], data: st.DataObject
) -> None:
    # A provider hands over each chunk as a parsed JSON object; inside it, anything goes.
    chunks = [
        data.draw(hostile(st.just(c)).filter(lambda c: isinstance(c, dict))) if data.draw(st.booleans()) else c
        for c in _chunks(result, cuts)
    ]
    translator = StreamTranslator(message_id="msg_1", model="m", stop_sequences=("END",))
    events = [event for chunk in chunks for event in translator.feed(chunk)] + translator.finish()
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    assert events[-2]["delta"]["stop_reason"] in ANTHROPIC_STOP_REASONS
    _well_formed_usage(events[-2]["usage"])
    for event in events:
        orjson.dumps(event)  # every event can be written to the wire
        if event["type"] == "content_block_start":
            _well_formed_block(event["content_block"])
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            assert isinstance(delta.get("text", delta.get("partial_json")), str)
