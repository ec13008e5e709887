"""An in-process provider for tests, benchmarks and demos.

It answers with a fixed reply or echoes the last user message, at a set latency and token rate,
and can be programmed with faults: a 429 with Retry-After, a 5xx, a hang, or a stream cut off
after some chunks. Faults come from the config (``fail_rate``) or are queued at run time with
:meth:`FakeProvider.program`, one consumed per call, so a test can script an upstream exactly.
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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelrail.errors import UpstreamError, UpstreamRateLimited, UpstreamUnavailable
from modelrail.protocol import openai as oa
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.batches import Chunks, one_by_one

_PIECES = re.compile(r"\s*\S+")


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["rate_limit", "server_error", "hang", "cut"]
    status: int = 500
    retry_after: float | None = None
    # For "cut": how many content chunks reach the client before the stream breaks.
    after_chunks: int = 1


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
        self._fail_counter = 0.0

    def program(self, *faults: Fault | dict[str, Any]) -> None:
        """Queue faults; each call consumes one. ``program()`` with no faults clears the queue."""
        if not faults:
            self._faults.clear()
        for f in faults:
            self._faults.append(f if isinstance(f, Fault) else Fault.model_validate(f))

    # -- calls ---------------------------------------------------------------------------------

    async def chat(self, call: Call) -> JSONObject:
        fault = await self._begin()
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
        fault = await self._begin()
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
        fault = await self._begin()
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
        fault = await self._begin()
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
        await self._begin()
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

    async def _begin(self) -> Fault | None:
        """Count the call, wait the latency, and raise the fault due now (a cut is raised later)."""
        self.calls += 1
        fault = self._faults.popleft() if self._faults else None
        if fault is None and self.cfg.fail_rate:
            # Deterministic: fail_rate 0.25 fails every fourth call, so tests need no seed.
            self._fail_counter += self.cfg.fail_rate
            if self._fail_counter >= 1:
                self._fail_counter -= 1
                fault = Fault(kind="server_error", status=self.cfg.fail_status)
        if self.cfg.latency:
            await asyncio.sleep(self.cfg.latency)
        if fault is None or fault.kind == "cut":
            return fault
        if fault.kind == "hang":
            await asyncio.Event().wait()
        if fault.kind == "rate_limit":
            headers = {"retry-after": _fmt(fault.retry_after)} if fault.retry_after is not None else {}
            raise UpstreamRateLimited(
                "fake upstream: rate limited",
                upstream_status=429,
                retryable=True,
                retry_after=fault.retry_after,
                headers=headers,
            )
        cls = UpstreamUnavailable if fault.status == 503 else UpstreamError
        raise cls(f"fake upstream: HTTP {fault.status}", upstream_status=fault.status, retryable=fault.status >= 500)

    def _raise_if_cut(self, fault: Fault | None, sent: int) -> None:
        if fault is not None and fault.kind == "cut" and sent >= fault.after_chunks:
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
        prompt_tokens = sum(len(_PIECES.findall(t)) for t in texts) + 3 * len(texts)
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


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "0"
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


PROVIDER = FakeProvider
