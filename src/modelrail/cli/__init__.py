"""The ``modelrail`` command: one typer app, its commands in the modules beside this one.

``serve``, ``models``, ``check``, ``version`` (:mod:`.serve`); ``keys`` (:mod:`.keys`); ``teams``
(:mod:`.teams`); ``migrate`` (:mod:`.migrate`); ``usage`` and ``spend`` (:mod:`.usage`). Every
command that reads a config takes the one ``--config`` option of :mod:`.config`.
"""

from __future__ import annotations

import typer

from modelrail.cli import migrate, serve, usage
from modelrail.cli.keys import keys_app
from modelrail.cli.teams import teams_app

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="modelrail: one OpenAI-compatible API for many models."
)

app.add_typer(keys_app, name="keys")
app.add_typer(teams_app, name="teams")
app.command("migrate")(migrate.migrate)
app.command("usage")(usage.usage)
app.command("spend")(usage.spend_command)
app.command("serve")(serve.serve)
app.command("models")(serve.models)
app.command("check")(serve.check)
app.command("version")(serve.version)


def main() -> None:
    app()


__all__ = ["app", "main"]
