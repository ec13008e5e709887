"""A sub-app built on its first request, for parts that cost memory and that most processes never serve."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from types import ModuleType

from starlette.types import ASGIApp, Receive, Scope, Send


class LazyApp:
    """Imports ``module`` (in a thread, so the event loop keeps serving) and calls ``build(module)``
    on the first request, then hands every request to the app it built.

    The admin API is built this way: FastAPI and its models add about 24 MiB to a worker's RSS,
    and a worker that serves only completions never needs them.
    """

    def __init__(self, module: str, build: Callable[[ModuleType], ASGIApp]) -> None:
        self._module = module
        self._build = build
        self._app: ASGIApp | None = None
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._load()
        await app(scope, receive, send)

    async def _load(self) -> ASGIApp:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._app is None:
                module = await asyncio.to_thread(importlib.import_module, self._module)
                self._app = self._build(module)
        return self._app
