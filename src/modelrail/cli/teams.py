"""``modelrail teams``: create and list teams (on the database or through ``--url``)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from modelrail.cli.config import ConfigOption
from modelrail.cli.limits import limit_options, limits_text
from modelrail.cli.target import (
    AdminKeyOption,
    JsonOption,
    Target,
    UrlOption,
    actor,
    csv_list,
    emit_json,
    json_obj,
    validated,
)
from modelrail.store.views import TeamCreate

teams_app = typer.Typer(no_args_is_help=True, help="Create and list teams.")


@teams_app.command("create")
@limit_options
def teams_create(  # noqa: PLR0917 - typer maps parameters to options
    name: Annotated[str, typer.Argument(help="The team's name.")],
    limits: dict[str, int | None] | None = None,  # one option per limit: see limit_options
    budget_usd: Annotated[float | None, typer.Option(help="Budget in USD per period.")] = None,
    budget_period: Annotated[str, typer.Option(help="day, month or total.")] = "month",
    alerts: Annotated[str | None, typer.Option(help="Alert thresholds, e.g. 0.5,0.8,1.0.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    admin_key: AdminKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a team with default limits and a budget."""
    target = Target(config, url, admin_key)
    raw: dict[str, Any] = {"name": name, "metadata": json_obj(metadata), "limits": limits or {}}
    if budget_usd is not None:
        budget: dict[str, Any] = {"usd": budget_usd, "period": budget_period}
        if alerts:
            budget["alert_thresholds"] = [float(a) for a in csv_list(alerts)]
        raw["budget"] = budget
    spec = validated(TeamCreate, raw)
    row = target.call("POST", "/teams", spec, lambda s: s.create_team(spec, actor=actor()))
    if json_output:
        emit_json(row)
    else:
        Console().print(f"Created team {row['name']} ({row['id']}).", highlight=False)


@teams_app.command("list")
def teams_list(
    config: ConfigOption = None,
    url: UrlOption = None,
    admin_key: AdminKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """List teams."""
    target = Target(config, url, admin_key)
    rows = target.call("GET", "/teams", None, lambda s: s.list_teams())
    if json_output:
        emit_json(rows)
        return
    table = Table("id", "name", "limits", "metadata", "created")
    for r in rows:
        table.add_row(r["id"], r["name"], limits_text(r), orjson.dumps(r["metadata"]).decode(), r["created_at"][:19])
    Console().print(table)
