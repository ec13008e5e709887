"""One GGUF model in llama.cpp's server engine (xllamacpp), driven from asyncio.

llama.cpp's server engine runs its own loop thread with ``n_parallel`` slots and continuous
batching. A request is one blocking call that releases the GIL and reports each chunk to a
callback; it runs on a worker thread of this engine's own pool (one per slot, so the event
loop's default pool is never starved), and its chunks cross to the event loop through an
``asyncio.Queue``. Returning ``True`` from the callback cancels the request inside llama.cpp,
which frees its slot: that is how closing a stream stops generation.

xllamacpp always starts llama.cpp's HTTP server as well. It listens on a Unix socket in a
private (0700) temporary folder and requires a random key, so nothing else on the machine can
use it; modelrail calls it only to tokenize and to render the chat template.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import aiohttp

from modelrail.errors import InvalidRequest, UpstreamError
from modelrail.protocol.base import JSONObject
from modelrail.providers.local.config import LocalConfig
from modelrail.providers.local.gate import SlotGate

log = logging.getLogger("modelrail.providers.local")

Kind = Literal["chat", "completion"]


class Engine:
    def __init__(
        self,
        server: Any,
        *,
        config: LocalConfig,
        threads: int,
        socket_dir: Path,
        address: str,
        api_key: str,
    ) -> None:
        self._server: Any = server
        self.config = config
        self.threads = threads
        self.gate = SlotGate(config.n_parallel, config.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=config.n_parallel, thread_name_prefix="modelrail-local")
        self._stops: set[threading.Event] = set()
        self._socket_dir = socket_dir
        self._address = address
        self._api_key = api_key
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    async def load(cls, config: LocalConfig) -> Engine:
        """Load the model (seconds, off the event loop) and start llama.cpp's engine."""
        path = config.model_path()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {path}")
        threads = config.threads()
        socket_dir = Path(tempfile.mkdtemp(prefix="modelrail-llama-"))
        api_key = secrets.token_urlsafe(32)
        started = time.perf_counter()
        try:
            server = await asyncio.to_thread(start_server, config, path, threads, socket_dir, api_key)
        except BaseException:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
        log.info(
            "local model %s loaded from %s in %.2f s (threads=%d, parallel=%d, context=%d per request)",
            config.model,
            path,
            time.perf_counter() - started,
            threads,
            config.n_parallel,
            config.n_ctx,
        )
        return cls(
            server,
            config=config,
            threads=threads,
            socket_dir=socket_dir,
            address=str(server.listening_address),
            api_key=api_key,
        )

    async def stream(self, kind: Kind, body: JSONObject) -> AsyncGenerator[JSONObject, None]:
        """llama.cpp's chunks for one request, in order. Closing the iterator stops generation.

        Waits for a slot first, or raises :class:`~modelrail.errors.Overloaded` if the queue is
        full. The slot is given back when llama.cpp has really finished with the request.
        """
        await self.gate.acquire()
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[JSONObject | None] = asyncio.Queue()
        stop = threading.Event()
        server = self._server
        handler: Callable[..., None] = server.handle_chat_completions if kind == "chat" else server.handle_completions

        def on_chunk(chunk: JSONObject) -> bool:
            if stop.is_set():
                return True
            _post(loop, chunks, chunk)
            return False

        def run() -> None:
            try:
                handler(body, on_chunk)
            finally:
                _post(loop, chunks, None)

        started = time.monotonic()
        self._stops.add(stop)
        try:
            job = loop.run_in_executor(self._executor, run)
        except BaseException:
            self._stops.discard(stop)
            self.gate.release()
            raise

        released = False

        def release(f: asyncio.Future[None] | None = None) -> None:
            nonlocal released
            if f is not None and not f.cancelled():
                f.exception()  # seen here, so an abandoned stream logs no "never retrieved"
            if not released:
                released = True
                self._stops.discard(stop)
                self.gate.release(time.monotonic() - started)

        # Whichever comes first: this generator seeing the end, or (if it was abandoned) the job.
        job.add_done_callback(release)
        try:
            while (chunk := await chunks.get()) is not None:
                yield chunk
            try:
                await job
            except (ValueError, RuntimeError) as exc:
                # llama.cpp throws (rather than answering an error chunk) only while it reads the
                # request, before any token: content it cannot take, such as an image.
                raise InvalidRequest(f"local model: {exc}") from None
        finally:
            stop.set()
            if not job.done():
                # llama.cpp sees the stop at its next token; waiting for that (milliseconds)
                # means that once aclose() returns, the slot is free for the next request.
                with contextlib.suppress(Exception):
                    await asyncio.shield(job)
            if job.done():
                release()

    async def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        data = await self._call("/tokenize", {"content": text, "add_special": add_special})
        return [int(t) for t in data.get("tokens", [])]

    async def apply_template(self, messages: list[JSONObject]) -> str:
        data = await self._call("/apply-template", {"messages": messages})
        return str(data.get("prompt", ""))

    async def _call(self, route: str, payload: JSONObject) -> JSONObject:
        if self._http is None:
            if self._address.startswith("unix://"):
                connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=self._address[len("unix://") :])
                base = "http://localhost"
            else:
                connector, base = aiohttp.TCPConnector(), self._address
            self._http = aiohttp.ClientSession(
                base_url=base,
                connector=connector,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=aiohttp.ClientTimeout(total=60),
            )
        async with self._http.post(route, json=payload) as resp:
            data = await resp.json(content_type=None)
        if resp.status != 200 or not isinstance(data, dict):
            raise UpstreamError(f"local model: {route} failed with HTTP {resp.status}", upstream_status=resp.status)
        return data

    async def close(self) -> None:
        """Stop new work, cancel running requests, wait for their threads, then free the model."""
        self.gate.close()
        for stop in list(self._stops):
            stop.set()
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self._free)

    def _free(self) -> None:
        self._executor.shutdown(wait=True)
        # Dropping the last reference runs llama.cpp's destructor, which stops its loop thread.
        self._server = None
        shutil.rmtree(self._socket_dir, ignore_errors=True)


def _post(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[JSONObject | None], item: JSONObject | None) -> None:
    # A closed loop raises RuntimeError: nobody is reading any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(queue.put_nowait, item)


def start_server(config: LocalConfig, path: Path, threads: int, socket_dir: Path, api_key: str) -> Any:
    """Load ``path`` into a new ``xllamacpp.Server`` (blocking). The benchmark calls it directly
    to measure llama.cpp with exactly the provider's settings."""
    if threads > 1:
        # llama.cpp's CPU threads are OpenMP threads; by default an idle one spins, and one that
        # the OS preempts stalls the rest for a whole time slice. Passive waiting bounds that.
        # libgomp reads this once, when it is loaded, so it is set before the first import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = str(path)
    p.n_parallel = config.n_parallel
    p.n_ctx = config.n_ctx * config.n_parallel
    p.n_batch = config.n_batch
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    if config.n_gpu_layers is not None:
        p.n_gpu_layers = config.n_gpu_layers
    p.verbosity = 0
    p.ui = False
    p.endpoint_slots = False
    p.endpoint_metrics = False
    p.n_threads_http = 2
    p.api_keys = [api_key]
    if hasattr(socket, "AF_UNIX"):
        p.hostnames = [str(socket_dir / "llama.sock")]
    else:
        p.hostnames, p.port = ["127.0.0.1"], 0
    try:
        return xlc.Server(p)
    except RuntimeError as exc:
        raise RuntimeError(f"llama.cpp could not load the model {path}: {exc}") from exc
