"""``modelrail serve``, ``models``, ``check`` and ``version``: running and inspecting a config."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from modelrail import __version__
from modelrail.auth.master_key import KEY_FILE, load_or_create_master_key
from modelrail.cli.config import CONFIG_ENV, ConfigOption, config_error, err, load
from modelrail.settings import ConfigError


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default from config: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from config: 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default from config: 1).")] = None,
) -> None:
    """Run the API server."""
    settings = load(config)
    # Each worker builds its own app from the same file, so checks run once here, before forking.
    from modelrail.app import build_deployments

    try:
        build_deployments(settings)
    except ConfigError as exc:
        raise config_error(exc) from None
    server = settings.server
    host = host or server.host
    port = server.port if port is None else port
    workers = workers or server.workers
    if workers > 1 and settings.state.backend != "redis" and not settings.state.allow_per_worker:
        # Each worker would count limits and budgets alone: N workers would allow N times the limit.
        err().print(
            f"[bold red]config error[/]\nserve --workers {workers} needs shared state: set state.backend to "
            "'redis' (with state.redis_url), run one worker, or set state.allow_per_worker: true to accept "
            "that each worker enforces limits and budgets alone.",
            highlight=False,
        )
        raise typer.Exit(2)

    console = err()
    if not settings.auth.master_key:
        data_dir = settings.resolved_data_dir()
        key, created = load_or_create_master_key(data_dir)
        if created:
            console.print(
                f"Generated a master key (kept in {data_dir / KEY_FILE}):\n  [bold]{key}[/]\n"
                "Clients send it as 'Authorization: Bearer <key>'.",
                highlight=False,
            )
        else:
            console.print(f"Master key: in {data_dir / KEY_FILE}", highlight=False)

    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    else:
        os.environ.pop(CONFIG_ENV, None)
    console.print(
        f"modelrail {__version__} on http://{host}:{port}  ({workers} worker(s); models: "
        f"{', '.join(m.name for m in settings.models) or 'none'})",
        highlight=False,
    )

    import uvicorn

    from modelrail.api.connections import guarded_protocol
    from modelrail.observability.logging import configure

    configure(server.log_level)
    uvicorn.run(
        "modelrail.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        # uvicorn's httptools protocol with read deadlines (408) and a per-address connection cap.
        http=guarded_protocol(
            header_timeout=server.header_timeout,
            body_timeout=server.read_timeout,
            max_per_client=server.max_connections_per_client,
        ),
        access_log=server.access_log,
        log_level=server.log_level,
        timeout_keep_alive=int(server.keep_alive),
        timeout_graceful_shutdown=int(server.graceful_timeout),
        log_config=None,
    )


def models(config: ConfigOption = None, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the model aliases a config serves."""
    settings = load(config)
    rows = [(m.name, m.provider, m.model or m.name) for m in settings.models]
    if json_output:
        import orjson

        sys.stdout.write(orjson.dumps([{"name": a, "provider": p, "model": m} for a, p, m in rows]).decode() + "\n")
        return
    table = Table("alias", "provider", "upstream model")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def check(config: ConfigOption = None) -> None:
    """Validate a config file (and every provider's options) without starting anything."""
    settings = load(config)
    from modelrail.app import build_deployments

    try:
        table, _ = build_deployments(settings)
    except ConfigError as exc:
        raise config_error(exc) from None
    Console().print(f"{settings.source}: ok, {len(table)} model alias(es)", highlight=False)


def version() -> None:
    """Print the version."""
    Console().print(__version__)
