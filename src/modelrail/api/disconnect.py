"""Noticing a client that leaves before its answer is ready.

Starlette does not watch the connection while a handler awaits, so a client that gives up on a
slow completion would leave the upstream call running to its deadline (and billing). Once the
request body has been read, the only message left to receive is ``http.disconnect``; one task
waits for it and cancels the handler's task. A streamed response is written by that same task, so
the watch stays on until the stream ends (see ``sse``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import Receive


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class DisconnectWatch:
    def __init__(self, receive: Receive) -> None:
        self.future: asyncio.Future[None] = asyncio.ensure_future(_wait_disconnect(receive))
        self._task = asyncio.current_task()
        self._callback: Callable[[asyncio.Future[None]], None] | None = self._cancel_handler
        self.future.add_done_callback(self._cancel_handler)

    def _cancel_handler(self, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and self._task is not None:
            self._task.cancel()

    @property
    def fired(self) -> bool:
        return self.future.done() and not self.future.cancelled()

    def close(self) -> None:
        """Stop watching: called once the answer has been written (or abandoned)."""
        if self._callback is not None:
            self.future.remove_done_callback(self._callback)
            self._callback = None
        if not self.future.done():
            self.future.cancel()

    def swallow(self) -> bool:
        """After a CancelledError in the handler: True if it was this watch's doing (and is now
        undone), False if the cancellation came from elsewhere and must propagate."""
        if self.fired and self._task is not None:
            return self._task.uncancel() == 0
        return False
