"""Noticing a client that leaves before its answer is ready.

Starlette does not watch the connection while a handler awaits, so a client that gives up on a
slow completion would leave the upstream call running to its deadline (and billing). Once the
request body has been read, the only message left to receive is ``http.disconnect``; one task
waits for it and cancels the handler's task. That task is started only once the request has run
for ``WATCH_AFTER``. A streamed response is written by that same task, so
the watch stays on until the stream ends (see ``sse``).
"""

from __future__ import annotations

import asyncio

from starlette.types import Receive


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# A watch starts this long after the request was read: most calls to a fast upstream have been
# answered by then, and those never pay for a task that waits, and for its cancellation (about 5
# µs a request). A client that leaves sooner is noticed at this mark; its upstream call ran that
# much longer, against the seconds an LLM call takes.
WATCH_AFTER = 0.05


class DisconnectWatch:
    def __init__(self, receive: Receive, after: float = WATCH_AFTER) -> None:
        self._receive = receive
        self.future: asyncio.Future[None] | None = None
        self._task = asyncio.current_task()
        self._closed = False
        self._start_handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(after, self._start)

    def _start(self) -> None:
        self._start_handle = None
        if self._closed:
            return
        self.future = asyncio.ensure_future(_wait_disconnect(self._receive))
        self.future.add_done_callback(self._cancel_handler)

    def _cancel_handler(self, fut: asyncio.Future[None]) -> None:
        if not self._closed and not fut.cancelled() and self._task is not None:
            self._task.cancel()

    @property
    def fired(self) -> bool:
        fut = self.future
        return fut is not None and fut.done() and not fut.cancelled()

    def close(self) -> None:
        """Stop watching: called once the answer has been written (or abandoned)."""
        self._closed = True
        if self._start_handle is not None:
            self._start_handle.cancel()
            self._start_handle = None
        fut = self.future
        if fut is not None:
            fut.remove_done_callback(self._cancel_handler)
            if not fut.done():
                fut.cancel()

    def swallow(self) -> bool:
        """After a CancelledError in the handler: True if it was this watch's doing (and is now
        undone), False if the cancellation came from elsewhere and must propagate."""
        if self.fired and self._task is not None:
            return self._task.uncancel() == 0
        return False
