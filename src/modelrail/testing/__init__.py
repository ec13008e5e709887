"""modelrail's test kit: mock upstreams and helpers, for modelrail's own tests and benchmarks and for
yours (an app that calls OpenAI, or one that calls modelrail).

What is here:

- :class:`MockOpenAI`: an ASGI app that speaks OpenAI's wire format (chat, completions, embeddings,
  models; plain and SSE), configured by :class:`MockConfig` and steered at run time by
  :class:`Fault` s (errors, rate limits, hangs, delays, cut streams, garbage) and control endpoints
  under ``/_mock/`` (see :mod:`modelrail.testing.mock_openai`). It records what it received.
- :class:`Fault`: the one vocabulary of upstream misbehaviour, shared with the in-process ``fake``
  provider (``FakeProvider.program(...)``).
- :class:`MockTransport`: modelrail's upstream transport with a Python function in place of the
  network (:class:`MockRequest` in, :class:`MockResponse` out), for a provider's translation tests.
- :func:`serve_mock`, :func:`serve_in_thread`, :func:`serve_asgi`, :func:`serve_subprocess`,
  :func:`free_port`: run a server on loopback and stop it cleanly.

Running the mock upstream against your own app, three ways:

1. In a subprocess, as a server: ``python -m modelrail.testing.mock_openai --port 9100`` (``--help``
   lists ``--ttft-ms``, ``--chunk-ms``, ``--api-key``, ``--record``...), then point your OpenAI client
   at ``http://127.0.0.1:9100/v1``. Script it over HTTP::

       POST /_mock/faults   {"status": 429, "retry_after": 1}     # the next request is rate-limited
       GET  /_mock/requests                                        # what your app sent

   From Python, ``with serve_mock() as served:`` does the same on a free port
   (``served.url + "/v1"`` is the API base).
2. In a thread of your test process, keeping the app object in reach::

       mock = MockOpenAI(MockConfig(reply="hello"))
       with serve_in_thread(mock) as url:
           client = openai.OpenAI(base_url=url + "/v1", api_key="x")
           mock.add_faults([Fault.cut(after_chunks=2)])
           ...
           assert mock.requests[-1].path == "/v1/chat/completions"

3. In process, with no socket at all: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=mock),
   base_url="http://mock")``.

Names are imported on first use, so ``python -m modelrail.testing.mock_openai`` does not import its
own module twice, and importing this package costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelrail.testing.faults import Fault
    from modelrail.testing.mock_config import MockConfig, RecordedRequest
    from modelrail.testing.mock_openai import MockOpenAI
    from modelrail.testing.mock_transport import MockRequest, MockResponse, MockTransport
    from modelrail.testing.servers import (
        Served,
        ServerError,
        free_port,
        serve_asgi,
        serve_in_thread,
        serve_mock,
        serve_subprocess,
    )

__all__ = [
    "Fault",
    "MockConfig",
    "MockOpenAI",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "RecordedRequest",
    "Served",
    "ServerError",
    "free_port",
    "serve_asgi",
    "serve_in_thread",
    "serve_mock",
    "serve_subprocess",
]

# Which module each public name lives in (read only).
_HOMES = {
    "Fault": "faults",
    "MockConfig": "mock_config",
    "RecordedRequest": "mock_config",
    "MockOpenAI": "mock_openai",
    "MockRequest": "mock_transport",
    "MockResponse": "mock_transport",
    "MockTransport": "mock_transport",
    "Served": "servers",
    "ServerError": "servers",
    "free_port": "servers",
    "serve_asgi": "servers",
    "serve_in_thread": "servers",
    "serve_mock": "servers",
    "serve_subprocess": "servers",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
