"""What limits, budgets and the ledger cost on the hot path, per request, memory vs Redis.

    .venv/bin/python benchmarks/limits_cost.py            # 20 000 requests per case
    .venv/bin/python benchmarks/limits_cost.py -n 5000 --no-redis

Calls the stages exactly as the gateway does (admit -> settle -> record) on a RequestContext, without
HTTP or an upstream, so the figures are the stages' own cost. Cases:

- baseline: the pass-through stages (OpenAdmission, logging off)
- ledger: pass-through admission + the ledger (journal thread + batched SQLite inserts)
- limits: key and team RPM, TPM and concurrency, plus a key budget (7 counters, one atomic reserve,
  one adjust) + the ledger

Each case runs sequentially (latency of one request) and with 64 requests in flight (throughput,
shown as µs of event-loop time per request). Redis runs against 127.0.0.1:6379 under a throwaway
key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from modelrail.auth.principal import Budget, Limits, Principal
from modelrail.context import RequestContext, Usage
from modelrail.protocol.base import validate
from modelrail.protocol.openai import ChatCompletionRequest
from modelrail.settings import settings_from_dict
from modelrail.stages import LogUsageSink, OpenAdmission
from modelrail.stages_build import build_stages

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in five words."}], "max_tokens": 32}
PARAMS = validate(ChatCompletionRequest, BODY)
DEPLOYMENTS = {"gpt-4o-mini": [type("Dep", (), {"id": "gpt-4o-mini#0", "alias": "gpt-4o-mini",
                                               "provider": type("P", (), {"kind": "openai"})(),
                                               "model": "gpt-4o-mini"})()]}  # fmt: skip
LIMITED = Principal(
    key_id="bench-key",
    name="bench",
    team_id="bench-team",
    key_limits=Limits(rpm=10**9, tpm=10**12, max_concurrency=10**6),
    team_limits=Limits(rpm=10**9, tpm=10**12, max_concurrency=10**6),
    key_budget=Budget(usd=10**9, period="month"),
)
OPEN = Principal(key_id="bench-key", name="bench")


def ctx_for(principal: Principal) -> RequestContext:
    return RequestContext(
        request_id=uuid.uuid4().hex,
        principal=principal,
        endpoint="chat",
        alias="gpt-4o-mini",
        body=BODY,
        params=PARAMS,
    )


async def one(admission: Any, usage: Any, principal: Principal) -> None:
    ctx = ctx_for(principal)
    await admission.admit(ctx)
    ctx.deployment = "gpt-4o-mini#0"
    ctx.usage = Usage(prompt_tokens=14, completion_tokens=7)
    await admission.settle(ctx)
    usage.record(ctx)


async def measure(admission: Any, usage: Any, principal: Principal, n: int, inflight: int) -> float:
    """µs per request: wall time / n."""
    for _ in range(200):  # warm up (script loading, connections)
        await one(admission, usage, principal)
    started = time.perf_counter()
    if inflight == 1:
        for _ in range(n):
            await one(admission, usage, principal)
    else:
        sem = asyncio.Semaphore(inflight)

        async def guarded() -> None:
            async with sem:
                await one(admission, usage, principal)

        await asyncio.gather(*(guarded() for _ in range(n)))
    return (time.perf_counter() - started) / n * 1e6


async def case(name: str, backend: str, n: int, tmp: Path, redis_url: str) -> list[tuple[str, str, int, float]]:
    prefix = f"modelrail-bench:{uuid.uuid4().hex[:8]}:"
    settings = settings_from_dict(
        {
            "data_dir": str(tmp / name / backend),
            "state": {"backend": backend, "redis_url": redis_url, "prefix": prefix},
            "ledger": {"database_url": f"sqlite+aiosqlite:///{tmp / name / backend / 'ledger.db'}"},
        },
        env={},
    )
    stages = build_stages(settings, DEPLOYMENTS)
    await stages.start()
    rows = []
    try:
        if name == "baseline":
            admission: Any = OpenAdmission()
            usage: Any = LogUsageSink()
            principal = OPEN
        elif name == "ledger":
            admission, usage, principal = OpenAdmission(), stages.usage, OPEN
        else:
            admission, usage, principal = stages.admission, stages.usage, LIMITED
        for inflight in (1, 64):
            rows.append((name, backend, inflight, await measure(admission, usage, principal, n, inflight)))
    finally:
        await stages.close()
        if backend == "redis":
            from modelrail.state.redis import RedisState

            cleaner = RedisState(redis_url, prefix)
            await cleaner.delete_prefix("")
            await cleaner.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="requests per case and concurrency")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--redis-url", default=os.environ.get("MODELRAIL_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    logging.getLogger("modelrail").setLevel(logging.WARNING)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results: list[tuple[str, str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += await case("baseline", "memory", args.n, Path(tmp), args.redis_url)
        for backend in ("memory", *(() if args.no_redis else ("redis",))):
            results += await case("ledger", backend, args.n, Path(tmp), args.redis_url)
            results += await case("limits", backend, args.n, Path(tmp), args.redis_url)
    base = {inflight: us for name, _, inflight, us in results if name == "baseline"}
    print(f"python {sys.version.split()[0]}, n={args.n} per row; µs per request (wall time / n)")
    print("| stages | state | in flight | µs/request | over baseline |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, backend, inflight, us in results:
        shown = "-" if name == "baseline" else backend
        print(f"| {name} | {shown} | {inflight} | {us:.1f} | {us - base[inflight]:+.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
