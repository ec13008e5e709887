"""Python bytecodes per request, by function: where modelrail's own time goes, counted exactly.

    .venv/bin/python benchmarks/opcodes.py                  # plain, 50 in flight, the top 40 functions
    .venv/bin/python benchmarks/opcodes.py --case stream --top 80

The app ``run.py`` measures (see ``instructions.py``), built in this process on uvloop and called
through ASGI, with the mock upstream in another process. After ``--warmup`` requests, a trace
function counts every bytecode the next ``--requests`` execute, per function (the event loop's
own work is in C and not counted). Counts repeat from run to run, unlike a sampling profile's
percentages, so a change shows as a number that moved; what a bytecode costs varies, so read
them beside ``instructions.py``'s totals.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import instructions
import run
from modelrail.testing.servers import serve_mock


class _Counter:
    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def start(self, frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return self.opcode

    def opcode(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "opcode":
            code = frame.f_code
            self.counts[(code.co_filename, code.co_name)] += 1
        return self.opcode


async def _measure(config: Path, key: str, stream: bool, opts: argparse.Namespace) -> _Counter:
    from modelrail.app import create_app
    from modelrail.settings import load_settings

    app = create_app(load_settings(config))
    load = instructions.loader(app, key, stream, opts.concurrency)
    counter = _Counter()
    async with instructions._lifespan(app):
        await load(opts.warmup)
        sys.settrace(counter.start)
        threading.settrace(counter.start)
        try:
            await load(opts.requests)
        finally:
            sys.settrace(None)
            threading.settrace(None)
    return counter


def _where(filename: str) -> str:
    for mark in ("site-packages/", "/src/", "/lib/python3"):
        if mark in filename:
            return filename.split(mark, 1)[1]
    return filename


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=["plain", "stream"], default="plain")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--top", type=int, default=40, help="functions to list")
    opts = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        mock = stack.enter_context(serve_mock(api_key=run.UPSTREAM_KEY, record=False))
        bench = run.Bench(mock=mock, server_cpus=None, workdir=Path(tmp))
        config = run.modelrail_config(bench, "opcodes", "memory")
        instructions._tuned(config)
        key = run.store_key(config)
        os.environ.update({"MODELRAIL_MASTER_KEY": run.MASTER_KEY, "OPENAI_API_KEY": run.UPSTREAM_KEY})
        import uvloop

        counter = uvloop.run(_measure(config, key, opts.case == "stream", opts))
    n = opts.requests
    total = sum(counter.counts.values())
    by_file: collections.Counter[str] = collections.Counter()
    for (filename, _), count in counter.counts.items():
        by_file[_where(filename)] += count
    print(f"{total / n:,.0f} bytecodes per request ({opts.case}, {opts.concurrency} in flight)\n")
    print("| per request | share | file |\n| --: | --: | --- |")
    for name, count in by_file.most_common(opts.top // 2):
        print(f"| {count / n:,.0f} | {100 * count / total:.1f}% | {name} |")
    print("\n| per request | share | function | file |\n| --: | --: | --- | --- |")
    for (filename, function), count in counter.counts.most_common(opts.top):
        print(f"| {count / n:,.0f} | {100 * count / total:.1f}% | {function} | {_where(filename)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
