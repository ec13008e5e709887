"""Measure the two choices DESIGN.md leaves to measurement.

1. Upstream HTTP client: aiohttp vs httpx, one pooled client each, 50 concurrent requests against
   the mock upstream (plain and streamed). The client runs alone on core 1, the mock on core 0.
   Reported: req/s, latency, and client CPU per request (the figure that matters when the mock,
   not the client, is what limits req/s).
Each case runs ``--repeat`` times, alternating between the two contenders so that a busy moment
on a shared machine hits both alike; the median run is reported, with every run's req/s.
2. Server: uvicorn (uvloop + httptools) vs granian, both serving benchmarks/trivial_app.py alone
   on core 1, loaded by wrk on core 0. granian lives in a throwaway venv, benchmarks/.venv-bench,
   created on first use; it is not a modelrail dependency.

    .venv/bin/python benchmarks/choose.py [--quick] [--only client|server]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import loadgen
import proc
from modelrail.testing.servers import LOOPBACK, free_port, serve_asgi, serve_mock, serve_subprocess

HERE = Path(__file__).resolve().parent
BENCH_VENV = HERE / ".venv-bench"
RESULTS = HERE / "results"
AUTH = "Bearer sk-choose"
BODY = orjson.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there."}], "max_tokens": 64}
)


# -- 1. the upstream client (this part runs inside the pinned child process) ---------------------


async def client_load(lib: str, url: str, connections: int, duration: float, stream: bool) -> dict[str, Any]:
    body = orjson.loads(BODY) | ({"stream": True} if stream else {})
    payload = orjson.dumps(body)
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    call: Callable[[], Any]

    if lib == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

        async def call() -> None:
            async with session.post(url, data=payload, headers=headers) as r:
                if stream:
                    async for _line in r.content:
                        pass
                else:
                    orjson.loads(await r.read())
                r.raise_for_status()

        close = session.close
    else:
        import httpx

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        client = httpx.AsyncClient(limits=limits, timeout=30)

        async def call() -> None:
            if stream:
                async with client.stream("POST", url, content=payload, headers=headers) as r:
                    async for _line in r.aiter_lines():
                        pass
                    r.raise_for_status()
            else:
                r = await client.post(url, content=payload, headers=headers)
                orjson.loads(r.content)
                r.raise_for_status()

        close = client.aclose

    loop = asyncio.get_running_loop()

    async def worker(deadline: float) -> None:
        nonlocal errors
        while loop.time() < deadline:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(loop.time() + 1.0) for _ in range(connections)))  # warm-up
    latencies.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(loop.time() + duration) for _ in range(connections)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await close()
    latencies.sort()
    n = len(latencies)
    return {
        "lib": lib,
        "stream": stream,
        "connections": connections,
        "requests": n,
        "errors": errors,
        "rps": round(n / wall, 1),
        "p50_ms": round(loadgen.percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(loadgen.percentile(latencies, 99) * 1000, 3),
        "cpu_us_per_request": round(cpu / n * 1e6, 1) if n else None,
    }


def median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by req/s, with every run's req/s beside it."""
    row = dict(sorted(results, key=lambda r: r["rps"])[len(results) // 2])
    row["runs_rps"] = [r["rps"] for r in results]
    return row


def compare_clients(duration: float, repeat: int) -> list[dict[str, Any]]:
    rows = []
    with serve_mock(api_key="sk-choose", record=False, cpus=[0]) as mock:
        url = mock.url + "/v1/chat/completions"
        for stream in (False, True):
            runs: dict[str, list[dict[str, Any]]] = {"aiohttp": [], "httpx": []}
            for _ in range(repeat):
                for lib, results in runs.items():
                    args = [sys.executable, __file__, "client-run", "--lib", lib, "--url", url]
                    args += ["--duration", str(duration)] + (["--stream"] if stream else [])
                    done = subprocess.run(loadgen.pinned(args, [1]), capture_output=True, text=True, check=True)
                    results.append(json.loads(done.stdout))
            for lib, results in runs.items():
                rows.append(median(results))
                print(f"  client {lib:<8} stream={stream!s:<5} runs: {rows[-1]['runs_rps']}", file=sys.stderr)
    return rows


# -- 2. the server -------------------------------------------------------------------------------


def ensure_bench_venv() -> Path:
    granian = BENCH_VENV / "bin" / "granian"
    if not granian.exists():
        print(f"creating {BENCH_VENV} with granian (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        pip = [str(BENCH_VENV / "bin" / "pip"), "install", "-q", "granian", "uvloop", "orjson"]
        subprocess.run(pip, check=True)
    return granian


def granian_server(granian: Path, port: int, env: dict[str, str]) -> Any:
    args = [
        str(granian), "--interface", "asgi", "--host", LOOPBACK, "--port", str(port), "--loop", "uvloop",
        "--no-ws", "--workers", "1", "--log-level", "warning", "trivial_app:app",
    ]  # fmt: skip
    return serve_subprocess(args, port, env=env, cpus=[1], cwd=HERE)


def compare_servers(duration: float, repeat: int) -> list[dict[str, Any]]:
    granian = ensure_bench_venv()
    env = {"PYTHONPATH": str(HERE)}
    version = subprocess.run([str(granian), "--version"], capture_output=True, text=True, check=False).stdout.split()
    servers: dict[str, Callable[[int], Any]] = {
        "uvicorn (uvloop, httptools)": lambda port: serve_asgi("trivial_app:app", port, env=env, cpus=[1]),
        f"granian {version[-1] if version else ''} (asgi, uvloop)": lambda port: granian_server(granian, port, env),
    }
    rows = []
    with contextlib.ExitStack() as stack:
        # Both run at once (the idle one costs nothing) so that rounds can alternate between them.
        running = {name: stack.enter_context(start(free_port())) for name, start in servers.items()}
        for path, connections in (("/plain", 1), ("/plain", 50), ("/stream", 50)):
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for served in running.values():
                loadgen.run_wrk(served.url + path, BODY, AUTH, connections, 1, [0])
            for _ in range(repeat):
                for name, served in running.items():
                    cpu = proc.cpu_seconds(served.process.pid)
                    result = loadgen.run_wrk(served.url + path, BODY, AUTH, connections, duration, [0])
                    used = proc.cpu_seconds(served.process.pid) - cpu
                    result.cpu_us_per_request = round(used / result.requests * 1e6, 1) if result.requests else None
                    runs[name].append({"server": name, "path": path, **result.to_json()})
            for name, results in runs.items():
                rows.append(median(results))
                print(f"  server {name:<32} {path:<8} c={connections:<3} runs: {rows[-1]['runs_rps']}", file=sys.stderr)
    return rows


def runs(row: dict[str, Any]) -> str:
    return ", ".join(f"{x:.0f}" for x in row["runs_rps"])


def report(clients: list[dict[str, Any]], servers: list[dict[str, Any]]) -> str:
    lines = []
    if clients:
        lines += [
            "### Upstream client, 50 concurrent requests to the mock (client pinned to its own core)",
            "",
            "| client | response | req/s | p50 ms | p99 ms | client CPU µs/req | errors | req/s of each run |",
            "|---|---|--:|--:|--:|--:|--:|---|",
        ]
        for r in clients:
            kind = "SSE, 10 chunks" if r["stream"] else "JSON"
            lines.append(
                f"| {r['lib']} | {kind} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['cpu_us_per_request']} | {r['errors']} | {runs(r)} |"
            )
        lines.append("")
    if servers:
        lines += [
            "### Server, trivial ASGI app on one core, wrk on the other",
            "",
            "| server | response | conns | req/s | p50 ms | p99 ms | server CPU µs/req | errors | req/s of each run |",
            "|---|---|--:|--:|--:|--:|--:|--:|---|",
        ]
        for r in servers:
            kind = "SSE, 10 chunks" if r["path"] == "/stream" else "JSON"
            lines.append(
                f"| {r['server']} | {kind} | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.2f} "
                f"| {r['p99_ms']:.2f} | {r['cpu_us_per_request']} | {r['errors']} | {runs(r)} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("client-run", help="internal: one client measurement, JSON on stdout")
    child.add_argument("--lib", choices=["aiohttp", "httpx"], required=True)
    child.add_argument("--url", required=True)
    child.add_argument("--duration", type=float, default=5.0)
    child.add_argument("--connections", type=int, default=50)
    child.add_argument("--stream", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 s per run instead of 5 s")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per case; the median is kept")
    parser.add_argument("--only", choices=["client", "server"])
    opts = parser.parse_args()
    if opts.command == "client-run":
        loadgen.check_loopback(opts.url)
        import uvloop

        result = uvloop.run(client_load(opts.lib, opts.url, opts.connections, min(opts.duration, 60), opts.stream))
        print(json.dumps(result))
        return 0
    if not loadgen.has_wrk() and opts.only != "client":
        parser.error("the server comparison needs wrk (apt-get install -y wrk); try --only client")
    duration = 3.0 if opts.quick else 5.0
    repeat = max(1, min(opts.repeat, 7))
    clients = compare_clients(duration, repeat) if opts.only in (None, "client") else []
    servers = compare_servers(duration, repeat) if opts.only in (None, "server") else []
    print(report(clients, servers))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"choose-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"clients": clients, "servers": servers}, indent=2))
    print(f"\nresults: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
