"""``modelrail usage`` and ``modelrail spend``: reports from the ledger, as tables, JSON or CSV."""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from modelrail.cli.config import ConfigOption, err, load
from modelrail.settings import Settings
from modelrail.stages_build import ledger_url
from modelrail.usage.reports import GroupBy, parse_since, spend, usage_by

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV.")]


def _emit(rows: list[dict[str, Any]], columns: list[str], title: str, as_json: bool, as_csv: bool) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if as_csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
        return
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


async def _with_engine(settings: Settings, fn: Any) -> Any:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(ledger_url(settings))
    try:
        return await fn(engine)
    except (DBAPIError, OSError) as exc:
        # Most often: no request has been served yet, so the ledger table does not exist.
        where = engine.url.render_as_string(hide_password=True)
        err().print(f"cannot read the ledger at {where}: {exc.__class__.__name__}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        await engine.dispose()


def usage(
    config: ConfigOption = None,
    by: Annotated[str, typer.Option("--by", help="team, key, model or day.")] = "day",
    since: Annotated[str, typer.Option("--since", help="How far back: 7d, 24h, 30m or a date.")] = "7d",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Requests, tokens and cost from the ledger, grouped by team, key, model or day."""
    if by not in ("team", "key", "model", "day"):
        raise typer.BadParameter("--by must be team, key, model or day")
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = load(config)
    group: GroupBy = by  # type: ignore[assignment]
    rows = asyncio.run(_with_engine(settings, lambda e: usage_by(e, group, start)))
    columns = [by, "requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd"]
    data = [{by if k == "group" else k: v for k, v in r.as_dict().items()} for r in rows]
    _emit(data, columns, f"usage by {by} since {start:%Y-%m-%d %H:%M} UTC", as_json, as_csv)


def spend_command(
    config: ConfigOption = None,
    period: Annotated[str, typer.Option("--period", help="day, month or total (for keys without a budget).")] = "month",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Spend per key and team in the current budget period, against the budget."""
    if period not in ("day", "month", "total"):
        raise typer.BadParameter("--period must be day, month or total")
    settings = load(config)
    budgets = asyncio.run(_budgets(settings))
    rows = asyncio.run(_with_engine(settings, lambda e: spend(e, budgets, period)))
    columns = ["scope", "id", "period", "spend_usd", "budget_usd", "used_percent"]
    _emit([r.as_dict() for r in rows], columns, "spend vs budget", as_json, as_csv)


async def _budgets(settings: Settings) -> dict[tuple[str, str], tuple[float, str]]:
    """Budgets of every key and team from the key store, where one is installed and reachable."""
    try:
        factory = importlib.import_module("modelrail.store.factory")
        store = factory.build_key_store(settings, migrate=False)
    except Exception:
        return {}
    out: dict[tuple[str, str], tuple[float, str]] = {}
    try:
        for scope, items in (("team", await store.list_teams()), ("key", await store.list_keys())):
            for item in items:
                budget = getattr(item, "budget", None)
                if budget is not None:
                    out[(scope, str(item.id))] = (float(budget.usd), str(budget.period))
    except Exception as exc:
        err().print(f"(budgets unavailable: {type(exc).__name__})", highlight=False)
    finally:
        close = getattr(getattr(store, "db", None), "close", None)
        if close is not None:
            await close()
    return out
