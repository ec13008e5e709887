"""Gateway overhead benchmark: the mock upstream called directly, through the bare pass-through,
and through modelrail, under the same load.

    .venv/bin/python benchmarks/run.py --quick
    .venv/bin/python benchmarks/run.py --targets mock,passthrough --scenarios plain-50,stream-50
    .venv/bin/python benchmarks/run.py --suite --others   # with LiteLLM and Portkey in the pinned phase

The server under test runs alone on core 1; the load generator and the mock share core 0. All
targets are started at once; each scenario (the mock re-configured for it) is measured in rounds
that visit the targets in turn, and the median round is kept.
Results: a Markdown table on stdout, JSON in benchmarks/results/.

To extend: add a ``Scenario`` to ``SCENARIOS`` or a ``Target`` to ``TARGETS``. A target is a name,
a function that starts it (a context manager yielding a ``Served``), the key clients send, and any
other headers they send. Other gateways (LiteLLM, Portkey) are in ``others.py``, installed on first use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

import loadgen
import others
import proc
from modelrail.testing.servers import Served, ServerError, free_port, serve_mock, serve_subprocess

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CLIENT_KEY = "sk-bench"
MASTER_KEY = "sk-bench-master-0123456789abcdef"
REDIS_URL = os.environ.get("MODELRAIL_BENCH_REDIS", "redis://127.0.0.1:6379/0")
UPSTREAM_KEY = "sk-bench-upstream"
MODEL = "gpt-4o-mini"
PROMPT = [{"role": "user", "content": "Hello! Please answer in one short sentence."}]


@dataclass(frozen=True)
class Scenario:
    name: str
    stream: bool
    connections: int
    ttft_ms: float = 0.0
    chunk_ms: float = 0.0
    chunks: int = 10

    def body(self) -> bytes:
        data: dict[str, Any] = {"model": MODEL, "messages": PROMPT, "max_tokens": 64}
        if self.stream:
            data["stream"] = True
        return orjson.dumps(data)


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("plain-1", stream=False, connections=1),
        Scenario("plain-50", stream=False, connections=50),
        Scenario("stream-1", stream=True, connections=1),
        Scenario("stream-50", stream=True, connections=50),
        # A realistic upstream (300 ms to first token, 20 ms per chunk): not run by default.
        Scenario("real-plain-1", stream=False, connections=1, ttft_ms=300, chunk_ms=20),
        Scenario("real-plain-50", stream=False, connections=50, ttft_ms=300, chunk_ms=20),
        Scenario("real-stream-1", stream=True, connections=1, ttft_ms=300, chunk_ms=20),
        Scenario("real-stream-50", stream=True, connections=50, ttft_ms=300, chunk_ms=20),
    ]
}
DEFAULT_SCENARIOS = ["plain-1", "plain-50", "stream-1", "stream-50"]
# --suite: every scenario against the floor and modelrail (memory and Redis state), pinned; then one
# worker against two (both on Redis state) unpinned, since two workers need both cores.
SUITE = [
    ("mock,passthrough,modelrail,modelrail-redis", ",".join(SCENARIOS), True),
    ("mock,passthrough,modelrail-redis,modelrail-2w", "plain-50,stream-50", False),
]
# --others: other gateways, added to the suite's first (pinned) phase or to --targets.
OTHERS = ["litellm", "portkey"]


@dataclass
class Bench:
    """What every target's start function may need."""

    mock: Served
    server_cpus: list[int] | None
    workdir: Path
    keys: dict[str, str] = field(default_factory=dict)
    rss_at_rest: dict[str, float | None] = field(default_factory=dict)

    @property
    def upstream(self) -> str:
        return self.mock.url + "/v1"


StartFn = Callable[[Bench], contextlib.AbstractContextManager[Served]]


@dataclass(frozen=True)
class Target:
    name: str
    start: StartFn
    auth: str | None = None  # None: a key the start function put in ``Bench.keys``
    baseline: bool = False
    # Headers clients send beside Authorization and Content-Type (e.g. Portkey's provider and upstream).
    headers: Callable[[Bench], Mapping[str, str]] | None = None

    def authorization(self, bench: Bench) -> str:
        return self.auth or f"Bearer {bench.keys[self.name]}"

    def extra_headers(self, bench: Bench) -> Mapping[str, str]:
        return self.headers(bench) if self.headers else {}


@contextlib.contextmanager
def _mock_itself(bench: Bench) -> Iterator[Served]:
    yield bench.mock


def _passthrough(bench: Bench) -> contextlib.AbstractContextManager[Served]:
    port = free_port()
    args = [
        sys.executable, str(HERE / "passthrough.py"), "--port", str(port), "--upstream", bench.upstream,
        "--key", CLIENT_KEY, "--upstream-key", UPSTREAM_KEY,
    ]  # fmt: skip
    return serve_subprocess(args, port, cpus=bench.server_cpus)


def modelrail_config(bench: Bench, name: str, state: str) -> Path:
    """A realistic config: a key from the key store (not the master key) with limits and a budget,
    model limits, the ledger on, and routing (two deployments of the alias, a fallback alias)."""
    data = bench.workdir / name
    data.mkdir(exist_ok=True)
    redis = f'  redis_url: {REDIS_URL}\n  prefix: "{redis_prefix(name)}"\n' if state == "redis" else ""
    deployment = (
        "  - name: {alias}\n"
        "    provider: openai\n"
        f"    model: {MODEL}\n"
        f"    api_base: {bench.upstream}\n"
        '    api_key: "${{OPENAI_API_KEY}}"\n'
        "    timeouts: {{connect: 5, first_token: 30, idle: 30, total: 300}}\n"
    )
    config = bench.workdir / f"{name}.yaml"
    config.write_text(
        "server: {host: 127.0.0.1, port: 8000, log_level: warning}\n"
        'auth: {master_key: "${MODELRAIL_MASTER_KEY}"}\n'
        f"data_dir: {data}\n"
        f"state:\n  backend: {state}\n{redis}"
        "limits:\n"
        f"  models:\n    {MODEL}: {{rpm: 100000000, tpm: 10000000000, max_concurrency: 100000}}\n"
        "ledger: {enabled: true}\n"
        "models:\n" + deployment.format(alias=MODEL) * 2 + deployment.format(alias=f"{MODEL}-backup") + "router:\n"
        "  strategy: weighted\n"
        f"  fallbacks:\n    {MODEL}: [{MODEL}-backup]\n"
        "  retry: {max_retries: 1}\n"
    )
    return config


def redis_prefix(name: str) -> str:
    return f"modelrail-bench-{os.getpid()}-{name}:"


def forget_redis_keys(prefix: str) -> None:
    """The counters a benchmark left in Redis (budgets would otherwise stay for their period)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def store_key(config: Path) -> str:
    """A team and a key in the config's key store, each with limits and a budget; returns the secret."""
    cli = [str(Path(sys.executable).parent / "modelrail")]
    env = {**os.environ, "MODELRAIL_MASTER_KEY": MASTER_KEY, "OPENAI_API_KEY": UPSTREAM_KEY}
    common = ["--config", str(config)]
    subprocess.run(
        [*cli, "teams", "create", "bench", "--rpm", "100000000", "--budget-usd", "1000000", *common],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    out = subprocess.run(
        [*cli, "keys", "create", "--team", "bench", "--models", f"{MODEL}*", "--rpm", "100000000",
         "--tpm", "10000000000", "--max-concurrency", "100000", "--budget-usd", "1000000", *common],
        check=True, env=env, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1].strip()


def _modelrail(name: str, workers: int, state: str = "memory", src: str | None = None) -> StartFn:
    """``src``: another checkout's ``src`` folder to run instead of the installed modelrail (``--compare``)."""

    @contextlib.contextmanager
    def start(bench: Bench) -> Iterator[Served]:
        port = free_port()
        config = modelrail_config(bench, name, state)
        bench.keys[name] = store_key(config)
        modelrail = str(Path(sys.executable).parent / "modelrail")
        args = [modelrail, "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)]
        env = {"MODELRAIL_MASTER_KEY": MASTER_KEY, "OPENAI_API_KEY": UPSTREAM_KEY}
        if src:
            env["PYTHONPATH"] = src  # ahead of the editable install on sys.path
        # Several workers get every core (pinned to one, they could only share it).
        cpus = bench.server_cpus if workers == 1 else None
        try:
            with serve_subprocess(
                args, port, health_path="/healthz", env=env, cpus=cpus, cwd=bench.workdir, timeout=60
            ) as served:
                yield served
        finally:
            if state == "redis":
                forget_redis_keys(redis_prefix(name))

    return start


TARGETS = {
    t.name: t
    for t in [
        Target("mock", _mock_itself, auth=f"Bearer {UPSTREAM_KEY}", baseline=True),
        Target("passthrough", _passthrough, auth=f"Bearer {CLIENT_KEY}"),
        # modelrail targets are called with a key made in their key store (see store_key).
        Target("modelrail", _modelrail("modelrail", 1)),
        Target("modelrail-redis", _modelrail("modelrail-redis", 1, "redis")),
        # Two workers (shared state in Redis) need more than the one core the other targets get:
        # with pinning on they get both cores, so compare them with modelrail-redis-2c below.
        Target("modelrail-2w", _modelrail("modelrail-2w", 2, "redis")),
        # Other gateways (others.py), installed on first use into throwaway folders under benchmarks/.
        Target("litellm", others.litellm, auth=f"Bearer {others.LITELLM_MASTER_KEY}"),
        Target("portkey", others.portkey, auth=f"Bearer {UPSTREAM_KEY}", headers=others.portkey_headers),
    ]
}
DEFAULT_TARGETS = ["mock", "passthrough", "modelrail"]


def check_answers(url: str, auth: str, scenario: Scenario, headers: Mapping[str, str] | None = None) -> None:
    """One request before measuring, so a misconfigured target fails loudly instead of fast: a JSON
    completion, or an SSE stream of several content events closed by ``data: [DONE]``."""
    sent = {**(headers or {}), "Authorization": auth, "Content-Type": "application/json"}
    response = httpx.post(url, content=scenario.body(), headers=sent, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    if not scenario.stream:
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict) or not answer.get("choices"):
            raise RuntimeError(f"{url} answered no completion: {response.content[:300]!r}")
        return
    content_type = response.headers.get("content-type", "")
    events = [line for line in response.content.splitlines() if line.startswith(b"data:")]
    with_text = [e for e in events if loadgen.CONTENT_MARK in e and loadgen.CONTENT_MARK + b'"' not in e]
    if not content_type.startswith("text/event-stream") or len(with_text) < 2:
        raise RuntimeError(
            f"{url} did not stream ({content_type!r}, {len(events)} events, {len(with_text)} with text): "
            f"{response.content[:300]!r}"
        )
    if events[-1].strip() != b"data: [DONE]":
        raise RuntimeError(f"{url} streamed no closing [DONE]: {response.content[-300:]!r}")


def measure(
    url: str,
    pid: int,
    auth: str,
    scenario: Scenario,
    opts: argparse.Namespace,
    headers: Mapping[str, str] | None = None,
) -> loadgen.LoadResult:
    """One run; sets ``cpu_us_per_request`` from the server's CPU time during the measured load."""
    body, cpus, n = scenario.body(), opts.client_cpus, scenario.connections
    if opts.tool == "wrk":
        loadgen.run_wrk(url, body, auth, n, opts.warmup, cpus, headers=headers)
        cpu = proc.cpu_seconds(pid)
        result = loadgen.run_wrk(url, body, auth, n, opts.duration, cpus, headers=headers)
        result.cpu_us_per_request = per_request(proc.cpu_seconds(pid) - cpu, result.requests)
        if scenario.stream:
            # wrk only sees whole responses; the Python generator times the first token.
            ttft = loadgen.run_python(url, body, auth, n, opts.ttft_duration, True, cpus, headers=headers)
            result.ttft_p50_ms, result.ttft_p99_ms = ttft.ttft_p50_ms, ttft.ttft_p99_ms
        return result
    loadgen.run_python(url, body, auth, n, opts.warmup, scenario.stream, cpus, headers=headers)
    cpu = proc.cpu_seconds(pid)
    result = loadgen.run_python(url, body, auth, n, opts.duration, scenario.stream, cpus, headers=headers)
    result.cpu_us_per_request = per_request(proc.cpu_seconds(pid) - cpu, result.requests)
    return result


def per_request(cpu_seconds: float, requests: int) -> float | None:
    return round(cpu_seconds / requests * 1e6, 1) if requests else None


def start_targets(
    stack: contextlib.ExitStack, targets: list[Target], bench: Bench, failed: dict[str, str]
) -> dict[str, Served]:
    """Start every target at once: idle, they cost nothing, and the rounds can then interleave."""
    running = {}
    for target in targets:
        try:
            running[target.name] = stack.enter_context(target.start(bench))
            time.sleep(1.0)  # start-up work that finishes after /healthz answers (encodings, ledger)
            bench.rss_at_rest[target.name] = proc.rss_mb(running[target.name].process.pid)
        except ServerError as exc:
            failed[target.name] = str(exc)[:2000]
            print(f"  {target.name}: not started: {str(exc)[:2000]}", file=sys.stderr)
    return running


def run_scenario(
    scenario: Scenario,
    targets: list[Target],
    running: dict[str, Served],
    bench: Bench,
    opts: argparse.Namespace,
    failed: dict[str, str],
) -> list[dict]:
    settings = {"ttft": scenario.ttft_ms / 1000, "chunk_delay": scenario.chunk_ms / 1000}
    httpx.post(bench.mock.url + "/_mock/config", json={**settings, "chunks": scenario.chunks}).raise_for_status()
    samples: dict[str, list[loadgen.LoadResult]] = {}
    for target in targets:
        if target.name not in running or target.name in failed:
            continue
        try:
            url = running[target.name].url + "/v1/chat/completions"
            check_answers(url, target.authorization(bench), scenario, target.extra_headers(bench))
            samples[target.name] = []
        except (RuntimeError, httpx.HTTPError) as exc:
            failed[target.name] = str(exc)[:2000]
            print(f"  {target.name}: not measured: {str(exc)[:2000]}", file=sys.stderr)
    # Rounds go target by target, so a busy moment on a shared machine hits every target alike;
    # the median of the rounds is kept.
    for _ in range(opts.repeat):
        for target in targets:
            if target.name in samples:
                served = running[target.name]
                url = served.url + "/v1/chat/completions"
                auth, headers = target.authorization(bench), target.extra_headers(bench)
                samples[target.name].append(measure(url, served.process.pid, auth, scenario, opts, headers))
    rows = []
    for name, results in samples.items():
        result = sorted(results, key=lambda r: r.rps)[len(results) // 2]
        row = {"target": name, "scenario": scenario.name, **result.to_json()}
        row["runs_rps"] = [r.rps for r in results]
        row["load1"] = round(os.getloadavg()[0], 2)
        row["rss_rest_mb"] = bench.rss_at_rest.get(name)
        row["rss_mb"] = proc.rss_mb(running[name].process.pid)
        rows.append(row)
        print(f"  {name:<12} {scenario.name:<15} {result.rps:>9.1f} req/s  (runs: {row['runs_rps']})", file=sys.stderr)
    return rows


def add_overhead(rows: list[dict], baseline: str) -> None:
    base = {r["scenario"]: r for r in rows if r["target"] == baseline}
    for row in rows:
        ref = base.get(row["scenario"])
        if ref is not None and row["target"] != baseline:
            row["added_p50_ms"] = round(row["p50_ms"] - ref["p50_ms"], 3)
            row["added_p99_ms"] = round(row["p99_ms"] - ref["p99_ms"], 3)
            if row["ttft_p50_ms"] is not None and ref["ttft_p50_ms"] is not None:
                row["added_ttft_p50_ms"] = round(row["ttft_p50_ms"] - ref["ttft_p50_ms"], 3)


def markdown(rows: list[dict]) -> str:
    def num(value: Any, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| target | scenario | conns | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| TTFT p50 ms | TTFT p99 ms | added TTFT p50 ms | server CPU µs/req | errors | RSS at rest MiB "
        "| RSS after MiB | req/s of each run |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['scenario']} | {r['connections']} | {r['rps']:.0f} | {num(r['p50_ms'])} "
            f"| {num(r['p99_ms'])} | {num(r.get('added_p50_ms'))} | {num(r.get('added_p99_ms'))} "
            f"| {num(r['ttft_p50_ms'])} | {num(r['ttft_p99_ms'])} | {num(r.get('added_ttft_p50_ms'))} "
            f"| {num(r['cpu_us_per_request'], 0)} | {r['errors']} | {num(r.get('rss_rest_mb'), 0)} "
            f"| {num(r['rss_mb'], 0)} "
            f"| {', '.join(f'{x:.0f}' for x in r['runs_rps'])} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        model = next(
            (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in x),
            "",
        )
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()}


def checkout(rev: str) -> Path:
    """The ``src`` folder of ``rev``, exported once into benchmarks/.rev-<sha> (ignored by git)."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], check=True, capture_output=True, text=True, cwd=HERE)
    folder = HERE / f".rev-{sha.stdout.strip()}"
    if not folder.exists():
        archive = subprocess.run(["git", "archive", rev, "src"], check=True, capture_output=True, cwd=HERE.parent)
        folder.mkdir()
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "src"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s per run instead of 15 s")
    parser.add_argument("--duration", type=float, help="seconds per measured run (at most 60)")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help=f"from {', '.join(TARGETS)}")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help=f"from {', '.join(SCENARIOS)}")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the median is kept")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--suite", action="store_true", help="the whole suite (see SUITE); ignores --targets/--scenarios"
    )
    parser.add_argument(
        "--others",
        action="store_true",
        help=f"also run {', '.join(OTHERS)} (installed on first use): in the suite's pinned phase, or beside --targets",
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also run modelrail as of this git revision (target modelrail@REV), to measure a change in one run",
    )
    opts = parser.parse_args()
    opts.duration = min(60.0, opts.duration or (5.0 if opts.quick else 15.0))
    opts.repeat = max(1, min(opts.repeat, 5))
    opts.warmup = 1.0 if opts.quick else 3.0
    opts.ttft_duration = max(2.0, opts.duration / 2)
    opts.tool = "wrk" if opts.loadgen == "wrk" or (opts.loadgen == "auto" and loadgen.has_wrk()) else "python"
    if opts.tool == "wrk" and not loadgen.has_wrk():
        parser.error("wrk is not installed (apt-get install -y wrk), use --loadgen python")
    pin = not opts.no_pin and (os.cpu_count() or 1) >= 2
    opts.client_cpus, opts.server_cpus = ([0], [1]) if pin else (None, None)
    if opts.compare:
        name = f"modelrail@{opts.compare}"
        TARGETS[name] = Target(name, _modelrail(name, 1, src=str(checkout(opts.compare))))
        opts.targets += "," + name
    if opts.others:
        opts.targets = with_others(opts.targets)
    unknown = [n for n in opts.targets.split(",") if n not in TARGETS]
    unknown += [n for n in opts.scenarios.split(",") if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown targets or scenarios: {', '.join(unknown)}")
    return opts


def with_others(targets: str) -> str:
    names = targets.split(",")
    return ",".join(names + [n for n in OTHERS if n not in names])


def run_phase(opts: argparse.Namespace, pin: bool) -> tuple[list[dict], dict[str, str]]:
    """Every scenario of ``opts.scenarios`` against every target of ``opts.targets``."""
    targets = [TARGETS[n] for n in opts.targets.split(",")]
    scenarios = [SCENARIOS[n] for n in opts.scenarios.split(",")]
    client_cpus, server_cpus = ([0], [1]) if pin else (None, None)
    opts.client_cpus = client_cpus
    print(f"load generator: {opts.tool}; {opts.duration:.0f} s per run; pinned: {pin}", file=sys.stderr)
    rows: list[dict] = []
    failed: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="modelrail-bench-") as workdir,
        serve_mock(api_key=UPSTREAM_KEY, record=False, cpus=client_cpus) as mock,
    ):
        bench = Bench(mock, server_cpus, Path(workdir))
        with contextlib.ExitStack() as stack:
            running = start_targets(stack, targets, bench, failed)
            for scenario in scenarios:
                rows += run_scenario(scenario, targets, running, bench, opts, failed)
    baseline = next((t.name for t in targets if t.baseline), None)
    if baseline:
        add_overhead(rows, baseline)
    for row in rows:
        row["pinned"] = pin
    return rows, failed


def main() -> int:
    opts = parse_args()
    pin = opts.client_cpus is not None
    phases = [(t, s, p and pin) for t, s, p in SUITE] if opts.suite else [(opts.targets, opts.scenarios, pin)]
    if opts.suite and opts.others:
        targets, scenarios, pinned = phases[0]
        phases[0] = (with_others(targets), scenarios, pinned)
    rows: list[dict] = []
    failed: dict[str, str] = {}
    for targets, scenarios, pinned in phases:
        opts.targets, opts.scenarios = targets, scenarios
        phase_rows, phase_failed = run_phase(opts, pinned)
        rows += phase_rows
        failed.update(phase_failed)
        print(f"\n{'Pinned (server on core 1; load and mock on core 0)' if pinned else 'Not pinned'}:\n")
        print(markdown(phase_rows))
    for name, reason in failed.items():
        print(f"\n{name}: not measured: {reason.splitlines()[0]}")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"run-{stamp}.json"
    settings = {k: v for k, v in vars(opts).items() if k not in ("quick",)}
    report = {"machine": machine(), "settings": settings, "rows": rows, "failed": failed}
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
