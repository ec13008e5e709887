"""Slow clients get a 408 and lose their connection; one address cannot hold too many connections."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import uvicorn

from modelrail.api.connections import guarded_protocol
from modelrail.testing.servers import LOOPBACK, free_port


async def echo_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"got %d bytes" % len(body)})


@contextlib.contextmanager
def guarded_server(header: float = 0.5, body: float = 0.5, per_client: int | None = 4) -> Iterator[int]:
    port = free_port()
    protocol = guarded_protocol(header_timeout=header, body_timeout=body, max_per_client=per_client)
    config = uvicorn.Config(echo_app, host=LOOPBACK, port=port, http=protocol, log_level="error", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(5)


def read_all(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    sock.settimeout(timeout)
    started = time.monotonic()
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            data += chunk
    return data, time.monotonic() - started


def test_headers_sent_too_slowly_get_408_and_a_closed_connection() -> None:
    with guarded_server(header=0.5) as port, socket.create_connection((LOOPBACK, port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nhost: x\r\n")  # never finished
        data, took = read_all(sock)
        assert data.startswith(b"HTTP/1.1 408 ")
        assert took < 3


def test_a_silent_connection_is_closed() -> None:
    with guarded_server(header=0.5) as port, socket.create_connection((LOOPBACK, port)) as sock:
        data, took = read_all(sock)
        assert data.startswith(b"HTTP/1.1 408 ") and took < 3


def test_a_body_that_never_comes_gets_408() -> None:
    with guarded_server(body=0.5) as port, socket.create_connection((LOOPBACK, port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n" + b"x" * 10)
        data, took = read_all(sock)
        assert data.startswith(b"HTTP/1.1 408 ") and took < 3


def test_prompt_requests_and_kept_alive_connections_are_served() -> None:
    with guarded_server(header=0.5, body=0.5) as port, httpx.Client(base_url=f"http://{LOOPBACK}:{port}") as client:
        assert client.post("/", content=b"x" * 5000).text == "got 5000 bytes"
        time.sleep(0.3)
        assert client.post("/", content=b"abc").text == "got 3 bytes"  # the same connection, a new deadline
        time.sleep(0.3)
        assert client.post("/", content=b"").text == "got 0 bytes"


def test_connections_over_the_per_address_cap_are_refused() -> None:
    with guarded_server(header=5, per_client=3) as port:
        held = [socket.create_connection((LOOPBACK, port)) for _ in range(3)]
        try:
            time.sleep(0.1)
            with socket.create_connection((LOOPBACK, port)) as extra:
                data, _ = read_all(extra)
                assert data.startswith(b"HTTP/1.1 429 ")
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.1)
        # The count goes down as connections close: a new one is served.
        with httpx.Client(base_url=f"http://{LOOPBACK}:{port}") as client:
            assert client.post("/", content=b"ok").status_code == 200


def test_the_protocol_pickles_for_worker_processes() -> None:
    import pickle

    made = guarded_protocol(header_timeout=1.5, body_timeout=2.5, max_per_client=7)
    again = pickle.loads(pickle.dumps(made))
    assert again.keywords == {"header_timeout": 1.5, "body_timeout": 2.5, "max_per_client": 7}
