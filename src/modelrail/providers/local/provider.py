"""The ``local`` provider: chat and completions from a GGUF model running in this process."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator

from modelrail.errors import InternalError, Overloaded
from modelrail.protocol import openai as oa
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.batches import Chunks, one_by_one
from modelrail.providers.local import wire
from modelrail.providers.local.config import LocalConfig
from modelrail.providers.local.engine import Engine, Kind


class LocalProvider(Provider):
    """Serves ``config.model`` from a GGUF file with llama.cpp, token by token.

    Non-streamed calls run as streams too and are put together at the end, so a client that
    leaves frees its slot in both cases. Usage is counted by llama.cpp with the model's own
    tokenizer.
    """

    kind = "local"
    config_model = LocalConfig

    def __init__(self, config: ProviderConfig) -> None:
        assert isinstance(config, LocalConfig)
        super().__init__(config)
        self.cfg = config
        self._engine: Engine | None = None

    async def start(self) -> None:
        if self._engine is None:
            self._engine = await Engine.load(self.cfg)

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise Overloaded(f"The local model '{self.cfg.model}' is not loaded.", headers={"Retry-After": "5"})
        return self._engine

    # -- calls ---------------------------------------------------------------------------------

    async def chat(self, call: Call) -> JSONObject:
        reply = wire.ChatReply()
        async with contextlib.aclosing(self._chat_chunks(call)) as chunks:
            async for chunk in chunks:
                reply.add(chunk)
        return oa.chat_completion(
            id=f"chatcmpl-{call.request_id}", model=call.model, choices=[reply.choice()], usage=reply.usage
        )

    def stream(self, call: Call) -> AsyncIterator[Chunks]:
        if call.endpoint == "completions":
            return one_by_one(self._completion_chunks(call))
        return one_by_one(self._chat_chunks(call))

    async def _chat_chunks(self, call: Call) -> AsyncGenerator[JSONObject, None]:
        assert isinstance(call.params, oa.ChatCompletionRequest)
        body = wire.chat_body(call.params, call.body)
        cid, created = f"chatcmpl-{call.request_id}", int(time.time())
        sent_role = False
        finish: str | None = None
        usage: JSONObject | None = None
        async with contextlib.aclosing(self._raw("chat", body)) as raw:
            async for chunk in raw:
                if chunk.get("usage") is not None:
                    usage = wire.usage_from(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    if not sent_role:
                        sent_role = True
                        yield oa.chat_chunk(
                            id=cid, model=call.model, created=created, delta={"role": "assistant", "content": ""}
                        )
                    delta = wire.delta_of(choice.get("delta"))
                    finish = choice.get("finish_reason") or finish
                    if delta or choice.get("finish_reason"):
                        yield oa.chat_chunk(
                            id=cid,
                            model=call.model,
                            created=created,
                            delta=delta,
                            finish_reason=choice.get("finish_reason"),
                        )
        yield oa.usage_chunk(id=cid, model=call.model, created=created, usage=_complete(finish, usage))

    async def completion(self, call: Call) -> JSONObject:
        text: list[str] = []
        finish: oa.FinishReason = "stop"
        usage = oa.usage_dict(0, 0)
        async with contextlib.aclosing(self._completion_chunks(call)) as chunks:
            async for chunk in chunks:
                if chunk.get("usage") is not None:
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    text.append(choice.get("text") or "")
                    finish = choice.get("finish_reason") or finish
        return oa.text_completion(
            id=f"cmpl-{call.request_id}",
            model=call.model,
            choices=[oa.text_choice(0, "".join(text), finish)],
            usage=usage,
        )

    async def _completion_chunks(self, call: Call) -> AsyncGenerator[JSONObject, None]:
        assert isinstance(call.params, oa.CompletionRequest)
        body = wire.completion_body(call.params, call.body)
        cid, created = f"cmpl-{call.request_id}", int(time.time())
        finish: str | None = None
        usage: JSONObject | None = None
        async with contextlib.aclosing(self._raw("completion", body)) as raw:
            async for chunk in raw:
                if chunk.get("usage") is not None:
                    usage = wire.usage_from(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    text = choice.get("text") or ""
                    finish = choice.get("finish_reason") or finish
                    if text or choice.get("finish_reason"):
                        yield _text_chunk(cid, call.model, created, text, choice.get("finish_reason"))
        yield {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": call.model,
            "choices": [],
            "usage": _complete(finish, usage),
        }

    async def list_models(self) -> list[JSONObject]:
        return [oa.model_object(self.cfg.model, "modelrail")]

    # -- the model's own tokenizer -------------------------------------------------------------

    async def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        """Token ids of ``text`` by the model's tokenizer (``add_special``: with BOS/EOS as configured)."""
        return await self.engine.tokenize(text, add_special=add_special)

    async def render_chat(self, messages: list[JSONObject]) -> str:
        """The prompt the model's chat template makes of ``messages``, ready for the assistant's turn."""
        return await self.engine.apply_template(messages)

    async def _raw(self, kind: Kind, body: JSONObject) -> AsyncGenerator[JSONObject, None]:
        async with contextlib.aclosing(self.engine.stream(kind, body)) as chunks:
            async for chunk in chunks:
                error = wire.engine_error(chunk)
                if error is not None:
                    raise error
                yield chunk


def _complete(finish: str | None, usage: JSONObject | None) -> JSONObject:
    if finish is None or usage is None:
        raise InternalError("The local model stopped before finishing its answer.")
    return usage


def _text_chunk(cid: str, model: str, created: int, text: str, finish: str | None) -> JSONObject:
    return {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
    }
