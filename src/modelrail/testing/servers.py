"""Run a server in a subprocess on a loopback port, wait until it answers, and stop it cleanly.

For tests that need a real socket (streaming, disconnects, several workers) and for the
benchmarks, which pin each process to its own CPU core. Everything here binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """The server exited or never answered; the message carries the tail of its output."""


@dataclass(slots=True)
class Served:
    """A running subprocess server: its process, base URL and the file its output goes to."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def output(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


def free_port(host: str = LOOPBACK) -> int:
    """A port the OS says is free now. Another process may take it before it is bound; the
    callers bind it at once, and ``serve_subprocess`` reports that case as a clear error."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http(
    url: str, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None, interval: float = 0.05
) -> None:
    """Poll ``url`` until it answers with any HTTP status; raise ``ServerError`` on timeout or if
    ``process`` exits first."""
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"server exited with status {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 - loopback URLs built here
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(interval)
    raise ServerError(f"{url} did not answer within {timeout:.0f}s ({last_error})")


def pinned(args: Sequence[str], cpus: Sequence[int] | None) -> list[str]:
    """Prefix ``args`` with ``taskset`` so the process runs only on ``cpus`` (where taskset exists)."""
    if not cpus or not sys.platform.startswith("linux"):
        return list(args)
    return ["taskset", "-c", ",".join(map(str, cpus)), *args]


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM (servers finish their shutdown), then SIGKILL if it takes longer than ``grace``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


@contextlib.contextmanager
def serve_subprocess(
    args: Sequence[str],
    port: int,
    *,
    health_path: str = "/",
    env: Mapping[str, str] | None = None,
    cpus: Sequence[int] | None = None,
    timeout: float = 20.0,
    cwd: str | Path | None = None,
) -> Iterator[Served]:
    """Start ``args`` (which must listen on ``port``), yield once ``health_path`` answers, stop on exit.

    Output goes to a temporary file rather than a pipe, so a chatty server can never block on a
    full pipe; ``Served.output()`` reads it, and start-up errors include its tail.
    """
    url = f"http://{LOOPBACK}:{port}"
    full_env = {**os.environ, **(env or {})}
    log_file = tempfile.NamedTemporaryFile(prefix="modelrail-server-", suffix=".log", delete=False)  # noqa: SIM115
    log_path = Path(log_file.name)
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen(  # noqa: S603 - the caller's own command line
            pinned(args, cpus), stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=cwd
        )
        served = Served(process, url, log_path)
        try:
            wait_http(url + health_path, timeout, process)
        except ServerError as exc:
            raise ServerError(f"{exc}\n--- output of {' '.join(args)} ---\n{served.output()}") from None
        yield served
    finally:
        if process is not None:
            stop(process)
        log_file.close()
        log_path.unlink(missing_ok=True)


def serve_asgi(
    app: str,
    port: int,
    *,
    factory: bool = False,
    workers: int = 1,
    health_path: str = "/",
    env: Mapping[str, str] | None = None,
    cpus: Sequence[int] | None = None,
    timeout: float = 20.0,
) -> contextlib.AbstractContextManager[Served]:
    """Serve the ASGI app at import path ``app`` (``"pkg.module:attr"``) on uvicorn with uvloop and
    httptools, access log off, in a subprocess."""
    args = [
        sys.executable, "-m", "uvicorn", app,
        "--host", LOOPBACK, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning", "--workers", str(workers),
    ]  # fmt: skip
    if factory:
        args.append("--factory")
    return serve_subprocess(args, port, health_path=health_path, env=env, cpus=cpus, timeout=timeout)


def serve_mock(
    port: int | None = None,
    *,
    ttft_ms: float = 0.0,
    chunk_ms: float = 0.0,
    chunks: int = 10,
    api_key: str | None = None,
    record: bool = True,
    extra_args: Sequence[str] = (),
    cpus: Sequence[int] | None = None,
) -> contextlib.AbstractContextManager[Served]:
    """Run ``modelrail.testing.mock_openai`` in a subprocess; ``Served.url + "/v1"`` is its API base."""
    port = port or free_port()
    args = [
        sys.executable, "-m", "modelrail.testing.mock_openai", "--host", LOOPBACK, "--port", str(port),
        "--ttft-ms", str(ttft_ms), "--chunk-ms", str(chunk_ms), "--chunks", str(chunks),
    ]  # fmt: skip
    if api_key is not None:
        args += ["--api-key", api_key]
    if record:
        args.append("--record")
    args += list(extra_args)
    return serve_subprocess(args, port, health_path="/_mock/health", cpus=cpus)


@contextlib.contextmanager
def serve_in_thread(
    app: Callable[..., Awaitable[None]], port: int | None = None, *, timeout: float = 10.0
) -> Iterator[str]:
    """Serve an ASGI app object on uvicorn in a daemon thread of this process; yield its base URL.

    Starts faster than a subprocess and leaves the app object in reach (a test can call
    ``MockOpenAI.add_faults`` directly). It shares this process's CPU, so benchmarks use
    ``serve_subprocess``. Connections still open at exit get two seconds before being dropped.
    """
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=port,
        loop="asyncio",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"asgi-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServerError(f"uvicorn did not start on {LOOPBACK}:{port}")
            time.sleep(0.01)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
