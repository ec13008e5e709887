"""Does modelrail's memory stay flat under a long load? RSS after each slice of about a million requests.

    .venv/bin/python benchmarks/soak.py                       # 1,000,000 requests, plain, 50 connections
    .venv/bin/python benchmarks/soak.py --requests 200000 --scenario stream-50

modelrail runs as ``run.py`` measures it (a store key with limits and a budget, model limits, the
ledger, routing), alone on core 1 with wrk and the mock on core 0. wrk runs in slices of
``--slice`` seconds until ``--requests`` have been answered (and at most ``--max-minutes``); the RSS
of the server is read at rest and after every slice. Needs wrk (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import loadgen
import proc
import run
from modelrail.testing.servers import serve_mock


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--scenario", default="plain-50", choices=[s for s in run.SCENARIOS if not s.startswith("real")])
    p.add_argument("--slice", type=float, default=20.0, help="seconds of load between two RSS readings")
    p.add_argument("--max-minutes", type=float, default=15.0, help="stop after this long whatever the count")
    opts = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    scenario = run.SCENARIOS[opts.scenario]
    body = scenario.body()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        mock = stack.enter_context(serve_mock(api_key=run.UPSTREAM_KEY, record=False, cpus=[0]))
        bench = run.Bench(mock=mock, server_cpus=[1], workdir=Path(tmp))
        served = stack.enter_context(run.TARGETS["modelrail"].start(bench))
        pid = served.process.pid
        auth = f"Bearer {bench.keys['modelrail']}"
        url = served.url + "/v1/chat/completions"
        run.check_answers(url, auth, scenario)
        time.sleep(1.0)
        print(f"| requests | errors | req/s | RSS MiB |\n| --: | --: | --: | --: |\n| 0 | 0 | - | {proc.rss_mb(pid)} |")
        done = errors = 0
        stop = time.monotonic() + opts.max_minutes * 60
        while done < opts.requests and time.monotonic() < stop:
            result = loadgen.run_wrk(url, body, auth, scenario.connections, opts.slice, [0])
            done += result.requests
            errors += result.errors
            print(f"| {done:,} | {errors} | {result.rps:,.0f} | {proc.rss_mb(pid)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
