"""Shared hypothesis strategies for modelrail's wire models, valid and hostile.

Two kinds of strategy live here:

- ``from_model(Model)`` derives bodies from a wire model's own JSON schema (pydantic's
  ``model_json_schema``), so a field added to ``protocol/`` is fuzzed without touching this file.
  The schema does not carry the model validators (a ``tool`` message needs ``tool_call_id``...), so
  these bodies are *mostly* valid: the never-500 tests take them as they come, the round-trip tests
  keep those that validate.
- hand-written strategies for the shapes that matter to the translation (tool calls paired with tool
  results, system prompts, stop sequences) and for what modelrail produces (chat completions and chunks).

``hostile(body)`` mutates a body: wrong types, huge and non-finite numbers, deep nesting, odd unicode,
missing and extra fields. ``raw_hostile_bodies`` are byte strings no JSON encoder would write.
"""

from __future__ import annotations

import math
import string
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from modelrail.protocol import openai as oa

# One profile for every fuzz test: fixed seed, bounded, no example database, no deadline.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

JSON = Any

# -- text -------------------------------------------------------------------------------------

# Odd unicode: combining marks, RTL overrides, zero-width joiners, astral planes, NUL and controls.
_ODD = "\u0000\u0001\u001f\u007f\u0085\u00a0\u200b\u200d\u202e\u2028\u2029\ufeff\ufffd\U0001f600\U0010ffff\u0301"
odd_text = st.text(alphabet=st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(_ODD)), max_size=40)
plain_text = st.text(alphabet=string.ascii_letters + string.digits + " .,!?'-", max_size=40)
text = st.one_of(plain_text, odd_text)
ident = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=16)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ident, inner, max_size=4)),
    max_leaves=12,
)
json_objects = st.dictionaries(ident, json_values, max_size=4)

# -- strategies derived from a model's JSON schema ---------------------------------------------


def from_model(model: type[BaseModel], *, extra: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies shaped by ``model``'s JSON schema; with ``extra``, objects that allow unknown fields get some."""
    schema = model.model_json_schema()
    return _from_schema(schema, schema.get("$defs", {}), extra=extra, depth=0)  # type: ignore[return-value]


def _from_schema(schema: dict[str, Any], defs: dict[str, Any], *, extra: bool, depth: int) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return st.deferred(lambda: _from_schema(defs[schema["$ref"].split("/")[-1]], defs, extra=extra, depth=depth))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_from_schema(s, defs, extra=extra, depth=depth) for s in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=max(schema.get("minLength", 0), 30))
    if kind == "integer":
        lo, hi = _bound(schema, "minimum"), _bound(schema, "maximum")
        return st.integers(min_value=-(2**63) if lo is None else lo, max_value=2**63 - 1 if hi is None else hi)
    if kind == "number":
        lo, hi = _bound(schema, "minimum"), _bound(schema, "maximum")
        return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    if kind == "array":
        items = schema.get("items")
        inner = _from_schema(items, defs, extra=extra, depth=depth + 1) if items else json_values
        lo = schema.get("minItems", 0)
        return st.lists(inner, min_size=lo, max_size=max(lo, min(schema.get("maxItems", 3), 3)))
    if kind == "object" or "properties" in schema:
        return _object(schema, defs, extra=extra, depth=depth)
    return json_values


def _bound(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    exclusive = schema.get("exclusive" + key.capitalize())
    if exclusive is not None:
        return math.floor(exclusive) + 1 if key == "minimum" else math.ceil(exclusive) - 1
    return value  # type: ignore[no-any-return]


def _object(schema: dict[str, Any], defs: dict[str, Any], *, extra: bool, depth: int) -> st.SearchStrategy[Any]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if not props:
        return json_objects
    fields = {name: _from_schema(sub, defs, extra=extra, depth=depth + 1) for name, sub in props.items()}
    optional = sorted(set(props) - required)
    strategy = st.fixed_dictionaries(
        {k: fields[k] for k in props if k in required},
        optional={k: fields[k] for k in optional} if depth < 4 else {},
    )
    if extra and schema.get("additionalProperties", True) is not False:
        strategy = st.tuples(strategy, st.dictionaries(ident.map(lambda s: "x_" + s), json_values, max_size=2)).map(
            lambda pair: {**pair[1], **pair[0]}
        )
    return strategy


# -- hand-written valid requests ---------------------------------------------------------------

ALIASES = ("fake-chat", "fake-echo")
model_name = st.sampled_from(ALIASES)


@st.composite
def tool_pairs(draw: st.DrawFn, turn: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An assistant's tool_use blocks and the user's tool_result blocks that answer them (ids unique per turn)."""
    count = draw(st.integers(1, 3))
    ids = draw(st.lists(ident.map(lambda s: f"toolu_{turn}_{s}"), min_size=count, max_size=count, unique=True))
    uses = [{"type": "tool_use", "id": i, "name": draw(ident), "input": draw(json_objects)} for i in ids]
    results = [
        {
            "type": "tool_result",
            "tool_use_id": i,
            "content": draw(
                st.one_of(text, st.lists(st.builds(lambda t: {"type": "text", "text": t}, text), max_size=2))
            ),
        }
        for i in ids
    ]
    return uses, results


text_block = st.builds(lambda t: {"type": "text", "text": t}, text)
image_block = st.one_of(
    st.builds(
        lambda d: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}},
        st.text(alphabet=string.ascii_letters + "+/=", min_size=1, max_size=20),
    ),
    st.just({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}),
)


@st.composite
def anthropic_requests(draw: st.DrawFn, *, stream: bool | None = None) -> dict[str, Any]:
    """A valid Anthropic Messages request: text turns, images, and tool calls answered by tool results."""
    messages: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(0, 2))):
        uses, results = draw(tool_pairs(turn))
        lead = draw(st.lists(text_block, max_size=1))
        messages.append(
            {
                "role": "user",
                "content": draw(st.one_of(text, st.lists(st.one_of(text_block, image_block), min_size=1, max_size=2))),
            }
        )
        messages.append({"role": "assistant", "content": lead + uses})
        messages.append({"role": "user", "content": results + draw(st.lists(text_block, max_size=1))})
    messages.append({"role": "user", "content": draw(st.one_of(text, st.lists(text_block, min_size=1, max_size=2)))})
    body: dict[str, Any] = {"model": draw(model_name), "max_tokens": draw(st.integers(1, 64)), "messages": messages}
    optional = {
        "system": st.one_of(text, st.lists(text_block, max_size=2)),
        "stop_sequences": st.lists(plain_text.filter(bool), max_size=4),
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "top_k": st.integers(0, 100),
        "tools": st.lists(
            st.builds(lambda n, d: {"name": n, "description": d, "input_schema": {"type": "object"}}, ident, text),
            max_size=2,
        ),
        "tool_choice": st.one_of(
            st.builds(lambda t: {"type": t}, st.sampled_from(["auto", "any", "none"])),
            st.builds(lambda n: {"type": "tool", "name": n, "disable_parallel_tool_use": True}, ident),
        ),
        "metadata": st.builds(lambda u: {"user_id": u}, ident),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if stream is not None:
        body["stream"] = stream
    return body


@st.composite
def chat_requests(draw: st.DrawFn, *, stream: bool | None = None) -> dict[str, Any]:
    roles = st.sampled_from(["system", "developer", "user", "assistant"])
    content = st.one_of(text, st.lists(text_block, min_size=1, max_size=2))
    messages = draw(st.lists(st.builds(lambda r, c: {"role": r, "content": c}, roles, content), max_size=3))
    messages.append({"role": "user", "content": draw(content)})
    body: dict[str, Any] = {"model": draw(model_name), "messages": messages}
    optional = {
        "max_tokens": st.integers(1, 64),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "n": st.integers(1, 3),
        "stop": st.one_of(plain_text, st.lists(plain_text, max_size=4)),
        "seed": st.integers(-(2**31), 2**31),
        "presence_penalty": st.floats(-2, 2),
        "logit_bias": st.dictionaries(st.integers(0, 10**5).map(str), st.floats(-100, 100), max_size=2),
        "tools": st.lists(st.builds(lambda n: {"type": "function", "function": {"name": n}}, ident), max_size=2),
        "user": text,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if stream is not None:
        body["stream"] = stream
        if stream and draw(st.booleans()):
            body["stream_options"] = {"include_usage": True}
    return body


prompts = st.one_of(
    text,
    st.lists(text, min_size=1, max_size=3),
    st.lists(st.integers(0, 100_000), min_size=1, max_size=8),
    st.lists(st.lists(st.integers(0, 100_000), min_size=1, max_size=4), min_size=1, max_size=3),
)


@st.composite
def completion_requests(draw: st.DrawFn, *, stream: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(model_name), "prompt": draw(prompts)}
    if draw(st.booleans()):
        body["max_tokens"] = draw(st.integers(1, 64))
    if draw(st.booleans()):
        body["echo"] = draw(st.booleans())
    if stream is not None:
        body["stream"] = stream
    return body


@st.composite
def embedding_requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(model_name), "input": draw(prompts)}
    if draw(st.booleans()):
        body["encoding_format"] = draw(st.sampled_from(["float", "base64"]))
    if draw(st.booleans()):
        body["dimensions"] = draw(st.integers(1, 64))
    return body


# -- what modelrail produces: chat completions and their chunks ----------------------------------

finish_reasons = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "function_call"])
usages = st.builds(oa.usage_dict, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 1000))


@st.composite
def tool_calls(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(st.lists(ident.map(lambda s: "call_" + s), max_size=3, unique=True))
    return [
        {"id": i, "type": "function", "function": {"name": draw(ident), "arguments": _dumps(draw(json_objects))}}
        for i in ids
    ]


@st.composite
def chat_completions(draw: st.DrawFn) -> dict[str, Any]:
    calls = draw(tool_calls())
    extra = {"tool_calls": calls} if calls else {}
    choice = oa.chat_choice(0, draw(st.one_of(st.none(), text)), draw(finish_reasons), **extra)
    return oa.chat_completion(
        id="chatcmpl-" + draw(ident), model=draw(ident), choices=[choice], usage=draw(usages), created=0
    )


def _dumps(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


# -- hostile variants ---------------------------------------------------------------------------

# Encoded with the standard library's json, which writes big integers and NaN/Infinity tokens.
HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf])
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    HUGE,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(ident, json_scalars, max_size=3),
)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


@st.composite
def hostile(draw: st.DrawFn, bodies: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A body mutated once or a few times, anywhere in its tree."""
    body = draw(bodies)
    for _ in range(draw(st.integers(1, 3))):
        body = _mutate(draw, body)
    return body


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    """Replace, drop or add one node somewhere inside ``value``."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(draw, value[key])}
    if isinstance(value, list) and value and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], _mutate(draw, value[i]), *value[i + 1 :]]
    op = draw(st.sampled_from(["replace", "drop", "extra", "nest"]))
    if op == "drop" and isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        return {k: v for k, v in value.items() if k != key}
    if op == "extra" and isinstance(value, dict):
        key = draw(
            st.one_of(ident, odd_text, st.sampled_from(["api_base", "base_url", "api_key", "headers", "__proto__"]))
        )
        return {**value, key: draw(wrong_types)}
    if op == "nest":
        return nested(draw(st.integers(10, 200)), value)
    return draw(wrong_types)


raw_hostile_bodies = st.one_of(
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"42",
            b'"text"',
            b"{",
            b'{"model": NaN, "messages": []}',
            b'{"model": "fake-chat", "max_tokens": Infinity, "messages": [{"role": "user", "content": "hi"}]}',
            b'{"model": "fake-chat", "max_tokens": 1e999, "messages": [{"role": "user", "content": "hi"}]}',
            b'{"model": "fake-chat", "max_tokens": 100000000000000000000000000000, "messages": '
            b'[{"role": "user", "content": "hi"}]}',
            b'{"model": "fake-chat", "messages": [{"role": "user", "content": "\\ud800"}], "max_tokens": 4}',
            b'{"model": "fake-\xff\xfe", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}',
            b'{"model": "fake-chat", "model": 3, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}',
            b"\xef\xbb\xbf{}",
            b"{" * 5000 + b"}" * 5000,
            b"[" * 100_000,
            b'{"a":' * 2000 + b"1" + b"}" * 2000,
        ]
    ),
    st.binary(max_size=64),
)
