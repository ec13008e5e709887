"""Load generators: wrk when installed (C, barely costs its core), else asyncio + aiohttp.

Both are bounded: a run stops after ``duration`` seconds, and the Python generator also after
``max_requests``. Both only ever target loopback URLs given by the caller.

The Python generator also measures time to first token on streams (wrk only sees whole
responses). Run it as a subprocess so it can be pinned to a core of its own:

    python benchmarks/loadgen.py --url http://127.0.0.1:9100/v1/chat/completions \
        --body-file body.json --connections 50 --duration 5 --stream
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_DURATION = 120.0
# Marks an SSE event that carries generated text (not the opening role-only chunk).
CONTENT_MARK = b'"content":"'


@dataclass
class LoadResult:
    tool: str
    connections: int
    requests: int
    errors: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    # Filled in by the caller, which knows the server's process.
    cpu_us_per_request: float | None = None

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def check_loopback(url: str) -> None:
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"load tests only target 127.0.0.1, not {url}")


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


def pinned(args: list[str], cpus: list[int] | None) -> list[str]:
    if not cpus or shutil.which("taskset") is None:
        return args
    return ["taskset", "-c", ",".join(map(str, cpus)), *args]


def header_lines(headers: Mapping[str, str] | None) -> list[str]:
    """``Name: value`` lines for the headers sent beside Authorization (a target's own, e.g. Portkey's)."""
    lines = []
    for name, value in (headers or {}).items():
        if not name or ":" in name or "\r" in name + value or "\n" in name + value:
            raise ValueError(f"bad header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    return lines


# -- wrk ------------------------------------------------------------------------------------------


def run_wrk(
    url: str,
    body: bytes,
    auth: str,
    connections: int,
    duration: float,
    cpus: list[int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """``headers``: sent beside Authorization and Content-Type on every request."""
    check_loopback(url)
    seconds = max(1, round(min(duration, MAX_DURATION)))
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        env = {
            **os.environ,
            "WRK_BODY_FILE": body_file.name,
            "WRK_AUTH": auth,
            "WRK_HEADERS": "\n".join(header_lines(headers)),
        }
        args = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "post.lua"),
            url,
        ]
        done = subprocess.run(
            pinned(args, cpus), check=False, env=env, capture_output=True, text=True, timeout=seconds + 30
        )
    line = next((x for x in done.stdout.splitlines() if x.startswith("JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (exit {done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    s = json.loads(line[5:])
    errors = s["connect_errors"] + s["read_errors"] + s["write_errors"] + s["status_errors"] + s["timeouts"]
    elapsed = s["duration_us"] / 1e6
    return LoadResult(
        tool="wrk",
        connections=connections,
        requests=s["requests"],
        errors=errors,
        duration_s=round(elapsed, 3),
        rps=round(s["requests"] / elapsed, 1),
        p50_ms=s["p50_us"] / 1000,
        p90_ms=s["p90_us"] / 1000,
        p99_ms=s["p99_us"] / 1000,
    )


# -- Python generator -----------------------------------------------------------------------------


async def generate(
    url: str,
    body: bytes,
    auth: str,
    connections: int,
    duration: float,
    stream: bool,
    max_requests: int,
    extra_headers: Mapping[str, str] | None = None,
) -> LoadResult:
    import aiohttp

    headers = {"Content-Type": "application/json", **(extra_headers or {})}
    if auth:
        headers["Authorization"] = auth
    latencies: list[float] = []
    ttfts: list[float] = []
    errors = 0
    issued = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(duration, MAX_DURATION)
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=connections)

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        started = time.perf_counter()
        first: float | None = None
        try:
            async with session.post(url, data=body, headers=headers) as response:
                if stream:
                    async for line in response.content:
                        if first is None and CONTENT_MARK in line and CONTENT_MARK + b'"' not in line:
                            first = time.perf_counter()
                else:
                    await response.read()
                if response.status != 200:
                    errors += 1
                    return
        except (aiohttp.ClientError, TimeoutError):
            errors += 1
            return
        latencies.append(time.perf_counter() - started)
        if first is not None:
            ttfts.append(first - started)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while loop.time() < deadline and issued < max_requests:
            issued += 1
            await one(session)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    ttfts.sort()
    ms = 1000.0
    return LoadResult(
        tool="python",
        connections=connections,
        requests=len(latencies),
        errors=errors,
        duration_s=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        p50_ms=percentile(latencies, 50) * ms,
        p90_ms=percentile(latencies, 90) * ms,
        p99_ms=percentile(latencies, 99) * ms,
        ttft_p50_ms=percentile(ttfts, 50) * ms if ttfts else None,
        ttft_p99_ms=percentile(ttfts, 99) * ms if ttfts else None,
    )


def run_python(
    url: str,
    body: bytes,
    auth: str,
    connections: int,
    duration: float,
    stream: bool,
    cpus: list[int] | None = None,
    max_requests: int = 1_000_000,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Run the Python generator in its own (pinned) process and return its result; ``headers`` are
    sent beside Authorization and Content-Type."""
    check_loopback(url)
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        args = [
            sys.executable, str(Path(__file__).resolve()), "--url", url, "--body-file", body_file.name,
            "--auth", auth, "--connections", str(connections), "--duration", str(duration),
            "--max-requests", str(max_requests),
        ]  # fmt: skip
        if stream:
            args.append("--stream")
        for line in header_lines(headers):
            args += ["--header", line]
        done = subprocess.run(pinned(args, cpus), check=False, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-1000:]}")
    return LoadResult(**json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description="Bounded asyncio + aiohttp load generator (loopback only).")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--auth", default="")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', sent on every request")
    args = parser.parse_args()
    check_loopback(args.url)
    body = Path(args.body_file).read_bytes()
    extra_headers = {}
    for line in args.header:
        name, _, value = line.partition(":")
        extra_headers[name.strip()] = value.strip()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(
        generate(
            args.url, body, args.auth, args.connections, args.duration, args.stream, args.max_requests, extra_headers
        )
    )
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
