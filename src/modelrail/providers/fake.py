"""An in-process provider for tests, benchmarks and demos.

It answers with a fixed reply or echoes the last user message, at a set latency and token rate,
and can be programmed with faults (:class:`~modelrail.testing.faults.Fault`, the vocabulary the
mock upstream shares): an HTTP error, a 429 with Retry-After, a hang, a delay, a stream cut off
after some chunks, an answer that is not JSON. Faults come from the config (``fail_rate``) or are
queued at run time with :meth:`FakeProvider.program`, one consumed per call, so a test can script
an upstream exactly; a programmed fault with ``fail_rate`` stays, failing that share of calls.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import struct
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from modelrail.errors import UpstreamError, UpstreamRateLimited, UpstreamUnavailable
from modelrail.protocol import openai as oa
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.batches import Chunks, one_by_one
from modelrail.testing.faults import Fault

_PIECES = re.compile(r"\s*\S+")


class FakeConfig(ProviderConfig):
    reply: str | None = None
    latency: float = Field(default=0.0, ge=0)
    tokens_per_second: float | None = Field(default=None, gt=0)
    fail_rate: float = Field(default=0.0, ge=0, le=1)
    fail_status: int = 500
    embedding_dims: int = Field(default=16, ge=1, le=4096)
    owned_by: str = "modelrail"


class FakeProvider(Provider):
    kind = "fake"
    config_model = FakeConfig

    def __init__(self, config: ProviderConfig) -> None:
        assert isinstance(config, FakeConfig)
        super().__init__(config)
        self.cfg = config
        self._faults: deque[Fault] = deque()
        self.calls = 0
        # Streams started and not yet closed: a test reads this to see that a disconnect closed one.
        self.open_streams = 0
        # A programmed fault that stays (``fail_rate``); without one, the config's fail_rate (read
        # at each call: a test may change it) applies.
        self._persistent: Fault | None = None
        self._fail_counter = 0.0

    def program(self, *faults: Fault | dict[str, Any]) -> None:
        """Queue faults; each call consumes one (one with ``fail_rate`` stays instead, replacing
        the config's). ``program()`` with no faults clears them, back to the config's."""
        if not faults:
            self._faults.clear()
            self._persistent = None
        for f in faults:
            fault = f if isinstance(f, Fault) else Fault.from_json(f)
            if fault.fail_rate is not None:
                self._persistent, self._fail_counter = fault, 0.0
            else:
                self._faults.append(fault)

    # -- calls ---------------------------------------------------------------------------------

    async def chat(self, call: Call) -> JSONObject:
        fault = await self._begin(stream=False)
        text, prompt_tokens = self._reply(call)
        pieces, finish = self._limit(text, call.params.output_cap())
        if self.cfg.tokens_per_second:
            await asyncio.sleep(len(pieces) / self.cfg.tokens_per_second)
        self._raise_if_cut(fault, 0)
        n = call.params.n or 1
        choices = [oa.chat_choice(i, "".join(pieces), finish) for i in range(n)]
        return oa.chat_completion(
            id=f"chatcmpl-{call.request_id}",
            model=call.model,
            choices=choices,
            usage=oa.usage_dict(prompt_tokens, len(pieces) * n),
            system_fingerprint="fp_modelrail_fake",
        )

    def stream(self, call: Call) -> AsyncIterator[Chunks]:
        if call.endpoint == "completions":
            return one_by_one(self._completion_chunks(call))
        return one_by_one(self._chat_chunks(call))

    async def _chat_chunks(self, call: Call) -> AsyncIterator[JSONObject]:
        fault = await self._begin(stream=True)
        text, prompt_tokens = self._reply(call)
        pieces, finish = self._limit(text, call.params.output_cap())
        created = int(time.time())
        cid = f"chatcmpl-{call.request_id}"

        def chunk(delta: JSONObject, finish_reason: oa.FinishReason | None = None) -> JSONObject:
            return oa.chat_chunk(
                id=cid,
                model=call.model,
                created=created,
                delta=delta,
                finish_reason=finish_reason,
                system_fingerprint="fp_modelrail_fake",
            )

        self.open_streams += 1
        try:
            yield chunk({"role": "assistant", "content": ""})
            for i, piece in enumerate(pieces):
                self._raise_if_cut(fault, i)
                await self._pace()
                yield chunk({"content": piece})
            self._raise_if_cut(fault, len(pieces))
            yield chunk({}, finish)
            usage = oa.usage_dict(prompt_tokens, len(pieces))
            yield oa.usage_chunk(id=cid, model=call.model, created=created, usage=usage)
        finally:
            self.open_streams -= 1

    async def completion(self, call: Call) -> JSONObject:
        fault = await self._begin(stream=False)
        text, prompt_tokens = self._reply(call)
        pieces, finish = self._limit(text, call.params.output_cap())
        self._raise_if_cut(fault, 0)
        return oa.text_completion(
            id=f"cmpl-{call.request_id}",
            model=call.model,
            choices=[oa.text_choice(0, "".join(pieces), finish)],
            usage=oa.usage_dict(prompt_tokens, len(pieces)),
        )

    async def _completion_chunks(self, call: Call) -> AsyncIterator[JSONObject]:
        fault = await self._begin(stream=True)
        text, prompt_tokens = self._reply(call)
        pieces, finish = self._limit(text, call.params.output_cap())
        created = int(time.time())
        cid = f"cmpl-{call.request_id}"
        for i, piece in enumerate(pieces):
            self._raise_if_cut(fault, i)
            await self._pace()
            last = i == len(pieces) - 1
            yield oa.text_completion(
                id=cid,
                model=call.model,
                created=created,
                choices=[oa.text_choice(0, piece, finish) if last else _open_text_choice(piece)],
                usage=None,  # type: ignore[arg-type]
            )
        yield {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": call.model,
            "choices": [],
            "usage": oa.usage_dict(prompt_tokens, len(pieces)),
        }

    async def embeddings(self, call: Call) -> JSONObject:
        await self._begin(stream=False)
        inputs = call.params.input
        items: list[Any] = [inputs] if isinstance(inputs, str) or _is_token_list(inputs) else list(inputs)
        dims = call.params.dimensions or self.cfg.embedding_dims
        data = []
        tokens = 0
        for i, item in enumerate(items):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += max(1, len(_PIECES.findall(text)))
            vec = _vector(text, dims)
            emb: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
                if call.params.encoding_format == "base64"
                else vec
            )
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def list_models(self) -> list[JSONObject]:
        return [oa.model_object(self.cfg.model, self.cfg.owned_by)]

    # -- behaviour -----------------------------------------------------------------------------

    async def _begin(self, *, stream: bool) -> Fault | None:
        """Count the call, wait the latency, and raise the fault due now (a cut is raised later)."""
        self.calls += 1
        fault = self._faults.popleft() if self._faults else self._persistent_fault()
        if self.cfg.latency:
            await asyncio.sleep(self.cfg.latency)
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.hang:
            await asyncio.Event().wait()
        status = fault.status
        if status == 429:
            headers = fault.response_headers()
            raise UpstreamRateLimited(
                "fake upstream: rate limited",
                upstream_status=429,
                retryable=True,
                retry_after=fault.retry_after,
                headers={"retry-after": headers["retry-after"]} if "retry-after" in headers else {},
            )
        if status is not None:
            cls = UpstreamUnavailable if status == 503 else UpstreamError
            raise cls(
                f"fake upstream: HTTP {status}",
                upstream_status=status,
                retryable=status >= 500,
                retry_after=fault.retry_after,
            )
        if fault.garbage:
            # What the HTTP transport raises for the same answer from a real upstream.
            if stream:
                raise UpstreamError("The upstream sent a stream event that is not JSON.")
            raise UpstreamError("The upstream answered with a body that is not JSON.", retryable=True)
        return fault

    def _persistent_fault(self) -> Fault | None:
        fault = self._persistent
        rate = fault.fail_rate if fault is not None else self.cfg.fail_rate
        if not rate:
            return None
        # Deterministic: fail_rate 0.25 fails every fourth call, so tests need no seed.
        self._fail_counter += rate
        if self._fail_counter >= 1:
            self._fail_counter -= 1
            return fault if fault is not None else Fault(status=self.cfg.fail_status)
        return None

    def _raise_if_cut(self, fault: Fault | None, sent: int) -> None:
        if fault is not None and fault.cut_after_chunks is not None and sent >= fault.cut_after_chunks:
            raise UpstreamError("fake upstream: the stream was cut off", upstream_status=None, retryable=True)

    async def _pace(self) -> None:
        if self.cfg.tokens_per_second:
            await asyncio.sleep(1 / self.cfg.tokens_per_second)

    def _reply(self, call: Call) -> tuple[str, int]:
        params = call.params
        if hasattr(params, "messages"):
            texts = [_text_of(m.content) for m in params.messages]
            last_user = next((_text_of(m.content) for m in reversed(params.messages) if m.role == "user"), "")
        else:
            prompt = params.prompt
            texts = [prompt if isinstance(prompt, str) else " ".join(map(str, prompt))]
            last_user = texts[0]
        prompt_tokens = sum(_pieces(t) for t in texts) + 3 * len(texts)
        reply = self.cfg.reply if self.cfg.reply is not None else last_user
        return reply, prompt_tokens

    @staticmethod
    def _limit(text: str, cap: int | None) -> tuple[list[str], oa.FinishReason]:
        pieces = _PIECES.findall(text) or [text]
        if cap is not None and len(pieces) > cap:
            return pieces[:cap], "length"
        return pieces, "stop"


def _open_text_choice(piece: str) -> JSONObject:
    return {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], int)


def _vector(text: str, dims: int) -> list[float]:
    # A stable unit vector per text, so equal inputs embed equally.
    digest = hashlib.sha256(text.encode()).digest()
    raw = [((digest[i % 32] + i * 31) % 255) / 127.0 - 1.0 for i in range(dims)]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [x / norm for x in raw]


PROVIDER = FakeProvider


def _pieces(text: str) -> int:
    """The fake's token count: its pieces, or for a long text (which a regex pass over would hold
    the event loop for) one per four characters."""
    return len(_PIECES.findall(text)) if len(text) <= 65_536 else len(text) // 4
