"""Instructions per request through modelrail's app, counted by callgrind: a figure that does not move
with the machine's load, for measuring one change against another.

    .venv/bin/python benchmarks/instructions.py                    # plain and stream, 50 in flight
    .venv/bin/python benchmarks/instructions.py --cases stream --concurrency 1
    .venv/bin/python benchmarks/instructions.py --compare HEAD~1   # another revision, same counts
    .venv/bin/python benchmarks/instructions.py --passthrough      # and the bare pass-through, the floor

The app is the one ``run.py`` measures (``modelrail_config``: a store key with limits and a budget,
model limits, the ledger, two deployments and a fallback), built in this process and called through
ASGI directly: no HTTP server, so the count is modelrail's own work plus its upstream client
(aiohttp) on uvloop, talking to the mock upstream, which runs in another process, outside
callgrind. Each case runs twice under ``valgrind --tool=callgrind``, with ``--base`` and
``--base + --requests`` requests; the difference divided by ``--requests`` is the cost of one
request, start-up and shutdown cancelled out. Background work (the ledger's writers, key-store
polling) is counted where it runs, in this process; its timers are set so that it runs as often
per request as under load (``_tuned``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import run
from modelrail.testing.servers import serve_mock

HERE = Path(__file__).resolve().parent


def _tuned(config: Path) -> None:
    """At callgrind's pace (~50x slower) timers fire 50x more often per request than under load: the
    ledger would insert batches of a few rows and the key store would be polled every few requests.
    Batches of ``batch_size`` and a slower poll are what a loaded server sees."""
    text = config.read_text()
    ledger = "ledger: {enabled: true, flush_interval_ms: 600000, fsync_interval_ms: 50}"
    text = text.replace("ledger: {enabled: true}", ledger)
    auth = 'auth: {master_key: "${MODELRAIL_MASTER_KEY}"'
    text = text.replace(auth + "}", auth + ", key_poll_interval: 1.0, key_max_staleness: 3600}")
    config.write_text(text)


async def _one(app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """One request through the ASGI interface; returns the status after the whole body was sent."""
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 40000),
    }  # fmt: skip
    try:
        await app(scope, receive, send)
    finally:
        gone.cancel()
    return status


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> Any:
    """Start and stop an ASGI app through the lifespan protocol, as a server does."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started = asyncio.get_running_loop().create_future()

    async def send(message: dict[str, str]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set_result(None)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await task


async def _drive(config: str, key: str, stream: bool, total: int, concurrency: int) -> None:
    if config == "passthrough":
        import passthrough

        app: Any = passthrough.make_app(os.environ["BENCH_UPSTREAM"], key, run.UPSTREAM_KEY)
    else:
        from modelrail.app import create_app
        from modelrail.settings import load_settings

        app = create_app(load_settings(Path(config)))
    async with _lifespan(app):
        await loader(app, key, stream, concurrency)(total)


def loader(app: Any, key: str, stream: bool, concurrency: int) -> Callable[[int], Awaitable[None]]:
    """A function that sends ``total`` chat requests to ``app``, ``concurrency`` at a time."""
    body = run.Scenario("x", stream=stream, connections=concurrency).body()
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def load(total: int) -> None:
        left = total

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                status = await _one(app, "/v1/chat/completions", headers, body)
                if status != 200:
                    raise SystemExit(f"answered {status}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    return load


def _count(cmd: list[str], env: dict[str, str], out: Path) -> int:
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
        check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    total = 0
    for line in out.read_text(errors="replace").splitlines():
        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if m:
            total = int(m.group(1))
    return total


def per_request(src: str | None, label: str, case: str, opts: argparse.Namespace, workdir: Path, mock: Any) -> float:
    """``src``: a revision's ``src`` folder, None for the working tree, "passthrough" for the floor."""
    env = {**os.environ, "MODELRAIL_MASTER_KEY": run.MASTER_KEY, "OPENAI_API_KEY": run.UPSTREAM_KEY}
    if src == "passthrough":
        config, key = "passthrough", run.CLIENT_KEY
        env["BENCH_UPSTREAM"] = mock.url + "/v1"
    else:
        bench = run.Bench(mock=mock, server_cpus=None, workdir=workdir)
        path = run.modelrail_config(bench, f"{case}-{len(os.listdir(workdir))}", "memory")
        _tuned(path)
        config, key = str(path), run.store_key(path)
        if src:
            env["PYTHONPATH"] = src
    counts = []
    for n in (opts.base, opts.base + opts.requests):
        cmd = [sys.executable, str(Path(__file__)), "--drive", config, key, case, str(n), str(opts.concurrency)]
        counts.append(_count(cmd, env, opts.keep / f"callgrind.{label}.{case}.{n}.out"))
    return (counts[1] - counts[0]) / opts.requests


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        config, key, case, n, concurrency = sys.argv[2:7]
        import uvloop  # the event loop modelrail serve runs on

        uvloop.run(_drive(config, key, case == "stream", int(n), int(concurrency)))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="plain,stream", help="plain, stream or both")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    p.add_argument("--base", type=int, default=300, help="requests in the shorter run")
    p.add_argument("--requests", type=int, default=1000, help="requests more in the longer run")
    p.add_argument("--compare", help="git revisions to count beside the working tree, comma-separated")
    p.add_argument("--no-working-tree", action="store_true", help="count only the --compare revisions")
    p.add_argument("--passthrough", action="store_true", help="count the bare pass-through (passthrough.py) too")
    p.add_argument(
        "--keep", type=Path, help="a folder to keep callgrind's files in, for callgrind_annotate (default: none kept)"
    )
    opts = p.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        if opts.keep is None:
            opts.keep = workdir
        opts.keep.mkdir(parents=True, exist_ok=True)
        mock = stack.enter_context(serve_mock(api_key=run.UPSTREAM_KEY, record=False))
        sources: dict[str, str | None] = {} if opts.no_working_tree else {"working tree": None}
        for rev in opts.compare.split(",") if opts.compare else []:
            sources[rev] = str(run.checkout(rev))
        if opts.passthrough:
            sources["passthrough"] = "passthrough"
        print("| version | case | in flight | instructions per request |\n| --- | --- | --: | --: |")
        for label, src in sources.items():
            for case in opts.cases.split(","):
                count = per_request(src, label.replace(" ", "-"), case, opts, workdir, mock)
                print(f"| {label} | {case} | {opts.concurrency} | {count:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
