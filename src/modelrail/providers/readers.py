"""Reading an upstream's stream: server-sent events and newline-delimited JSON, from the bytes of
each network read to a batch of chunks (providers/batches.py).

The transport splits what each read brought into lines (one await per network read rather than
a ``readline()`` per line) and hands the whole lines here:

- :func:`read_events` reads OpenAI-shaped SSE (``data: {chunk}`` ... ``data: [DONE]``) and keeps
  the events as they came, joined, so the SSE writer sends them on with no work per event;
- :class:`EventFormat` describes any other upstream's stream (its own events, translated into
  OpenAI chunks by the provider's ``parse``), read by :func:`read_payloads` for SSE and NDJSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from modelrail.errors import UpstreamError
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks, Events
from modelrail.providers.upstream_errors import error_message

# An event larger than this (no line end in sight) is an upstream fault, not something to buffer.
MAX_EVENT_BYTES = 8 * 1024 * 1024


@dataclass(slots=True, frozen=True)
class EventFormat:
    """How to read a provider's own stream events (the payload of each SSE ``data:`` line, or each
    NDJSON line).

    ``parse``: one payload to the OpenAI chunk it stands for, or ``None`` for an event that carries
    none (a ping, a start marker); it raises :class:`~modelrail.errors.UpstreamError` for an error
    event or a payload it cannot read. ``done``: the payload that ends the stream (``[DONE]``), or
    ``None`` for a stream that ends when the upstream closes it cleanly.
    """

    parse: Callable[[bytes], JSONObject | None]
    done: bytes | None = None


def read_events(lines: list[bytes]) -> tuple[Events, bool, UpstreamError | None]:
    """The OpenAI events in one network read's lines: the batch, whether ``[DONE]`` came, and the
    error that ended the read early (the events before it are in the batch)."""
    batch = Events()
    payloads: list[bytes] = []
    # Events that cannot be sent on as they came: a carriage return (JSON whitespace, but an SSE
    # line end) would split the event; a usage-only chunk is for clients that asked for it.
    usage_only = 0
    split = False
    for line in lines:
        if not line.startswith(b"data:"):
            continue  # blank separators, comments (": ping"), event: lines
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return _seal(batch, payloads, usage_only, split), True, None
        try:
            chunk = openai_event(payload)
        except UpstreamError as exc:
            return _seal(batch, payloads, usage_only, split), False, exc
        batch.append(chunk)
        payloads.append(payload)
        if b"\r" in payload:
            split = True
        elif not chunk.get("choices") and "usage" in chunk:
            usage_only += 1
    return _seal(batch, payloads, usage_only, split), False, None


def _seal(batch: Events, payloads: list[bytes], usage_only: int, split: bool) -> Events:
    """Join the events to send on as they came, where they can be (see :class:`Events`)."""
    if not payloads or split or usage_only > 1:
        return batch
    if usage_only:
        last = batch[-1]
        if last.get("choices") or "usage" not in last:
            return batch  # the usage-only chunk is not the last
        batch.usage_sse = b"data: " + payloads.pop() + b"\n\n"
    batch.sse = b"data: " + b"\n\ndata: ".join(payloads) + b"\n\n" if payloads else b""
    return batch


def openai_event(payload: bytes) -> JSONObject:
    """One OpenAI stream event's chunk; an error event or a payload that is not a JSON object is an
    upstream failure."""
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamError("The upstream sent a stream event that is not JSON.") from None
    if not isinstance(event, dict):
        raise UpstreamError("The upstream sent a stream event that is not a JSON object.")
    if "error" in event and "choices" not in event:
        raise UpstreamError(f"The upstream failed mid-stream: {error_message(payload)}")
    result: JSONObject = event
    return result


def sse_payload(line: bytes) -> bytes | None:
    """The payload of an SSE ``data:`` line; ``None`` for any other line."""
    return line[5:].strip() if line.startswith(b"data:") else None


def ndjson_payload(line: bytes) -> bytes | None:
    """The payload of an NDJSON line; ``None`` for a blank one."""
    line = line.strip()
    return line or None


def read_payloads(
    lines: list[bytes], fmt: EventFormat, payload_of: Callable[[bytes], bytes | None]
) -> tuple[Chunks, bool, UpstreamError | None]:
    """The chunks ``fmt`` makes of one network read's lines (:func:`sse_payload` or
    :func:`ndjson_payload` picks each line's payload), whether the stream's end came, and the error
    that ended the read early (the chunks before it are in the batch)."""
    batch: Chunks = []
    for line in lines:
        payload = payload_of(line)
        if payload is None:
            continue
        if payload == fmt.done:
            return batch, True, None
        try:
            chunk = fmt.parse(payload)
        except UpstreamError as exc:
            return batch, False, exc
        if chunk is not None:
            batch.append(chunk)
    return batch, False, None
