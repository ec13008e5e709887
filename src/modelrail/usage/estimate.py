"""Token estimates where the upstream gives no count: the prompt before the call (for
reservations), and what a stream had sent when it ended without a usage chunk.

Uses the offline :class:`modelrail.usage.tokens.TokenCounter` where it is installed; otherwise a
conservative rule of thumb (one token per 4 characters, rounded up, plus per-message overhead),
which errs high so that reservations are not too small.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from modelrail.context import RequestContext

log = logging.getLogger("modelrail.usage")


class Counter(Protocol):
    def count_text(self, model: str, text: str) -> int: ...

    def count_messages(self, model: str, messages: list[Any]) -> int: ...


class RuleOfThumb:
    def count_text(self, model: str, text: str) -> int:
        return -(-len(text) // 4)

    def count_messages(self, model: str, messages: list[Any]) -> int:
        total = 3
        for m in messages:
            total += 4 + self.count_text(model, _text(m.get("content") if isinstance(m, dict) else m))
        return total


def default_counter() -> Counter:
    try:
        module = importlib.import_module("modelrail.usage.tokens")
        counter: Counter = module.TokenCounter()
        return counter
    except Exception as exc:  # the counter is optional (the ``local`` extra); fall back
        log.debug("token counter unavailable (%s); estimating by characters", exc)
        return RuleOfThumb()


class Estimator:
    def __init__(self, counter: Counter | None = None) -> None:
        self.counter = counter or default_counter()
        self._fallback = RuleOfThumb()

    def warm(self, models: Iterable[str]) -> None:
        """Load the encodings these models use now, at start-up, rather than on a first request."""
        for model in models:
            self.text_tokens(model, "warm up")

    async def prompt_tokens_off_loop(self, ctx: RequestContext) -> int:
        """:meth:`prompt_tokens`, counted in a worker thread when the request's text is long (the
        counter releases the interpreter between slices), so that one large prompt never stalls
        the event loop; inline otherwise, where a thread would cost more than the count."""
        if _text_size(ctx.body) > THREAD_CHARS:
            return await asyncio.to_thread(self.prompt_tokens, ctx)
        return self.prompt_tokens(ctx)

    def prompt_tokens(self, ctx: RequestContext) -> int:
        body = ctx.body
        model = ctx.alias
        try:
            if ctx.endpoint in ("chat", "messages"):
                messages = body.get("messages") or []
                return int(self.counter.count_messages(model, list(messages)))
            key = "prompt" if ctx.endpoint == "completions" else "input"
            return int(self.counter.count_text(model, _text(body.get(key))))
        except Exception:
            log.exception("token counter failed; estimating by characters")
            return self._fallback.count_text(model, _text(body.get("messages") or body.get("prompt")))

    def text_tokens(self, model: str, text: str) -> int:
        if not text:
            return 0
        try:
            return int(self.counter.count_text(model, text))
        except Exception:
            log.exception("token counter failed; estimating by characters")
            return self._fallback.count_text(model, text)


# Characters of request text above which the prompt is counted in a worker thread (about 10 ms of
# counting on the worst input; a few ms for prose).
THREAD_CHARS = 65_536


def _text_size(body: dict[str, Any]) -> int:
    """About how many characters of text ``body`` holds: string contents and parts, one level deep
    (a walk over the messages and their parts, never over the text itself)."""
    size = 0
    for key in ("messages", "prompt", "input", "system"):
        value = body.get(key)
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    size += len(item)
                elif isinstance(item, dict):
                    content = item.get("content", item.get("text"))
                    if isinstance(content, str):
                        size += len(content)
                    elif isinstance(content, list):
                        for part in content:
                            text = part.get("text") if isinstance(part, dict) else None
                            if isinstance(text, str):
                                size += len(text)
    return size


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(v.get("text") if isinstance(v, dict) else v) for v in value)
    if isinstance(value, dict):
        return _text(value.get("content") or value.get("text"))
    return str(value)


# Chunks of a stream kept unread before their text is taken out: most streams end with the
# upstream's usage chunk, and then their text is never needed. Bounded, so a long stream without
# one costs no more memory than its text.
UNREAD_CHUNKS = 256


def keep_for_text(ctx: RequestContext, batch: list[dict[str, Any]]) -> None:
    """Remember a stream's batch, whose text is billed if the stream ends without a usage chunk."""
    if ctx.unread is None:
        ctx.unread = []
    ctx.unread.append(batch)
    ctx.unread_chunks += len(batch)
    if ctx.unread_chunks > UNREAD_CHUNKS:
        _read_unread(ctx)


def streamed_text(ctx: RequestContext) -> str:
    """All the text a stream sent (its batches kept by :func:`keep_for_text`)."""
    _read_unread(ctx)
    return "".join(ctx.output_text)


def _read_unread(ctx: RequestContext) -> None:
    if ctx.unread:
        out = ctx.output_text
        for batch in ctx.unread:
            for chunk in batch:
                add_stream_text(chunk.get("choices"), out)
    ctx.unread = None
    ctx.unread_chunks = 0


def add_stream_text(choices: Any, out: list[str]) -> None:
    """Append the generated text in one stream chunk's ``choices`` to ``out``."""
    for choice in choices or ():
        delta = choice.get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            if content:
                out.append(content)
            calls = delta.get("tool_calls")
            if calls:
                for call in calls:
                    args = (call.get("function") or {}).get("arguments")
                    if args:
                        out.append(args)
        else:
            text = choice.get("text")
            if text:
                out.append(text)
