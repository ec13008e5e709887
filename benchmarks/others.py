"""Other gateways as ``run.py`` targets: LiteLLM's proxy and Portkey's gateway, both pointed at the
mock upstream and pinned like the other targets.

Each is installed on first use into a throwaway folder beside this file (ignored by git), and
reinstalled only when the pinned version changes:

- LiteLLM ``1.106.2`` (``litellm[proxy]`` + ``opentelemetry-sdk``) in ``benchmarks/.venv-litellm``;
- Portkey ``@portkey-ai/gateway`` ``1.15.2`` from npm in ``benchmarks/.node-portkey``.

Neither is a modelrail dependency. When a registry cannot be reached the install fails within
``INSTALL_TIMEOUT`` and the target is reported as not started, with the installer's output.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from modelrail.testing.servers import Served, ServerError, free_port, serve_subprocess

if TYPE_CHECKING:
    from run import Bench

HERE = Path(__file__).resolve().parent
INSTALL_TIMEOUT = 600  # seconds for one install command
MARKER = ".bench-installed"  # written once an install has finished; holds what was installed

UPSTREAM_KEY = "sk-bench-upstream"
MODEL = "gpt-4o-mini"

# -- LiteLLM --------------------------------------------------------------------------------------

# Exactly 1.106.2: the release after it, 1.107.0, was compromised. Without opentelemetry-sdk the
# proxy retries a failing import on every request (about 40% of its throughput).
LITELLM_SPEC = ["litellm[proxy]==1.106.2", "opentelemetry-sdk"]
LITELLM_VENV = HERE / ".venv-litellm"
# The proxy refuses a weak master key ("sk-" and long); clients send it (Target.auth in run.py).
LITELLM_MASTER_KEY = "sk-bench-litellm-0123456789abcdef"

# -- Portkey --------------------------------------------------------------------------------------

PORTKEY_VERSION = "1.15.2"
PORTKEY_DIR = HERE / ".node-portkey"
PORTKEY_PACKAGE = {
    "name": "modelrail-bench-portkey",
    "private": True,
    "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
    # Streaming breaks with later @hono/node-server releases (Portkey-AI/gateway issue #1389).
    "overrides": {"@hono/node-server": "1.13.8"},
}
# The gateway's bundled server calls @hono/node-server's serve() without a hostname, so Node binds
# every interface; its app object is not exported. This module, loaded with ``node --import``
# before the gateway, makes an HTTP server's listen(port) without a host bind 127.0.0.1.
PORTKEY_LOOPBACK = """\
import http from "node:http";
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (port, host, ...rest) {
  if (typeof port === "number" && (host === undefined || host === null || typeof host === "function")) {
    return listen.call(this, port, "127.0.0.1", ...(typeof host === "function" ? [host, ...rest] : rest));
  }
  return listen.call(this, port, host, ...rest);
};
"""


class InstallError(ServerError):
    """A throwaway install failed (no registry, no npm, ...): the target is not started."""


def install(what: str, steps: list[list[str]], cwd: Path | None = None) -> None:
    """Run the install commands in turn; any failure or timeout raises ``InstallError``."""
    print(f"installing {what} (once)", file=sys.stderr)
    for args in steps:
        try:
            done = subprocess.run(
                args,
                check=False,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise InstallError(f"installing {what}: {args[0]} not found") from None
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            raise InstallError(
                f"installing {what}: {' '.join(args[:3])} ... gave no result in {INSTALL_TIMEOUT} s "
                f"(is the package registry reachable?)\n{out[-1500:]}"
            ) from None
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip()[-1500:]
            raise InstallError(f"installing {what}: {' '.join(args[:3])} ... exited {done.returncode}:\n{tail}")


def installed(folder: Path, spec: str) -> bool:
    marker = folder / MARKER
    return marker.exists() and marker.read_text() == spec


def ensure_litellm() -> Path:
    """The ``litellm`` command of the throwaway venv, created on first use."""
    spec = " ".join(LITELLM_SPEC)
    if not installed(LITELLM_VENV, spec):
        # --clear: a half-finished earlier install is started over.
        pip = [str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "--retries", "2", "--timeout", "60"]
        install(
            f"{spec} into {LITELLM_VENV}",
            [[sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], [*pip, *LITELLM_SPEC]],
        )
        (LITELLM_VENV / MARKER).write_text(spec)
    return LITELLM_VENV / "bin" / "litellm"


def litellm_config(bench: Bench) -> Path:
    """One deployment of the model on the mock; no database, so no virtual keys, spend logs or
    budgets: the proxy checks the master key and forwards."""
    config = bench.workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {bench.upstream}\n"
        f"      api_key: {UPSTREAM_KEY}\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_MASTER_KEY}\n"
        "  disable_spend_logs: true\n"
        "  disable_error_logs: true\n"
    )
    return config


@contextlib.contextmanager
def litellm(bench: Bench) -> Iterator[Served]:
    command = ensure_litellm()
    port = free_port()
    config = litellm_config(bench)
    args = [
        str(command), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1",
    ]  # fmt: skip
    env = {
        # The cost map bundled with the package, not fetched from the network at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # No .env loading from the working directory, no feedback banner.
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
        # Warnings and errors only; uvicorn's access log (one line per request) off, as for modelrail.
        "LITELLM_LOG": "WARNING",
    }
    with serve_subprocess(
        args, port, health_path="/health/liveliness", env=env, cpus=bench.server_cpus, cwd=bench.workdir, timeout=120
    ) as served:
        yield served


def ensure_portkey() -> Path:
    """The gateway's Node server script in the throwaway folder, installed on first use."""
    package = json.dumps(PORTKEY_PACKAGE, indent=2) + "\n"
    if not installed(PORTKEY_DIR, package):
        if shutil.which("npm") is None or shutil.which("node") is None:
            raise InstallError("Portkey needs node and npm (apt-get install -y nodejs npm)")
        if PORTKEY_DIR.exists():
            shutil.rmtree(PORTKEY_DIR)
        PORTKEY_DIR.mkdir()
        (PORTKEY_DIR / "package.json").write_text(package)
        # --ignore-scripts: the gateway's only install script is patch-package, with no patches shipped.
        npm = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--fetch-retries", "2"]
        install(f"@portkey-ai/gateway {PORTKEY_VERSION} into {PORTKEY_DIR}", [npm], cwd=PORTKEY_DIR)
        (PORTKEY_DIR / MARKER).write_text(package)
    (PORTKEY_DIR / "loopback.mjs").write_text(PORTKEY_LOOPBACK)
    return PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"


def portkey_headers(bench: Bench) -> dict[str, str]:
    """What clients send beside ``Authorization: Bearer <upstream key>``: the provider, and the
    mock as its base URL (loopback hosts are trusted by default)."""
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": bench.upstream}


@contextlib.contextmanager
def portkey(bench: Bench) -> Iterator[Served]:
    server = ensure_portkey()
    port = free_port()
    loopback = (PORTKEY_DIR / "loopback.mjs").as_uri()
    args = ["node", "--import", loopback, str(server), f"--port={port}", "--headless"]
    # production: no log-viewer UI routes.
    env = {"NODE_ENV": "production"}
    with serve_subprocess(args, port, env=env, cpus=bench.server_cpus, cwd=PORTKEY_DIR, timeout=30) as served:
        yield served
