"""The one ``--config`` option and the one config loader every command uses, and how errors print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from modelrail.settings import ConfigError, Settings, load_settings

CONFIG_ENV = "MODELRAIL_CONFIG"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file. Without it, the embedded default.",
        envvar=CONFIG_ENV,
    ),
]


def err() -> Console:
    return Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error on stderr; the caller raises the returned exit."""
    err().print(f"[bold red]error[/] {message}", highlight=False)
    return typer.Exit(code)


def config_error(exc: ConfigError) -> typer.Exit:
    err().print(f"[bold red]config error[/]\n{exc}", highlight=False)
    return typer.Exit(2)


def load(config: Path | None) -> Settings:
    """The settings from ``config`` (or the embedded default); a bad file exits with status 2."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise config_error(exc) from None
