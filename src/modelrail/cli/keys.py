"""``modelrail keys``: create, list, rotate and revoke API keys (on the database or through ``--url``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table

from modelrail.cli.config import ConfigOption, err
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
    parse_duration,
    validated,
)
from modelrail.store.views import KeyCreate, RotateRequest

keys_app = typer.Typer(no_args_is_help=True, help="Create, list, rotate and revoke API keys.")


def _keys_table(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "display", "name", "team", "kind", "env", "status", "models", "limits", "expires", "last used")
    for r in rows:
        table.add_row(
            r["id"],
            r["display"],
            r["name"],
            r["team"] or "-",
            r["kind"],
            r["env"],
            r["status"],
            ",".join(r["models"]) or "*",
            limits_text(r),
            (r["expires_at"] or "-")[:19],
            (r["last_used_at"] or "-")[:19],
        )
    Console().print(table)


def _show_secret(row: dict[str, Any], what: str) -> None:
    console = err()
    console.print(f"{what} {row['id']} ({row['display']}). Its secret, shown only now:", highlight=False)
    # The secret goes to stdout alone, so `... | tail -1` or a redirect captures it.
    sys.stdout.write(row["secret"] + "\n")
    if row.get("previous_valid_until"):
        console.print(f"The previous secret works until {row['previous_valid_until']}.", highlight=False)


@keys_app.command("create")
@limit_options
def keys_create(  # noqa: PLR0917 - typer maps parameters to options
    team: Annotated[str | None, typer.Option(help="Team id or name (required for regular keys).")] = None,
    name: Annotated[str, typer.Option(help="A name for the key.")] = "key",
    models: Annotated[str | None, typer.Option(help="Allowed model aliases or globs, comma-separated.")] = None,
    endpoints: Annotated[str | None, typer.Option(help="chat,completions,embeddings,messages (default: all).")] = None,
    env: Annotated[str, typer.Option(help="dev, staging or prod.")] = "dev",
    expires: Annotated[str | None, typer.Option(help="Lifetime, e.g. 30d, 12h.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Cap on output tokens per request.")] = None,
    limits: dict[str, int | None] | None = None,  # one option per limit: see limit_options
    budget_usd: Annotated[float | None, typer.Option(help="The key's own budget in USD.")] = None,
    budget_period: Annotated[str, typer.Option(help="day, month or total.")] = "month",
    admin: Annotated[bool, typer.Option("--admin", help="Make an admin key (for the admin API).")] = False,
    metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    admin_key: AdminKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a key; its secret is printed once."""
    target = Target(config, url, admin_key)
    raw: dict[str, Any] = {
        "name": name,
        "team": team,
        "kind": "admin" if admin else "regular",
        "env": env,
        "models": csv_list(models),
        "endpoints": csv_list(endpoints),
        "max_tokens": max_tokens,
        "metadata": json_obj(metadata),
        "limits": limits or {},
    }
    if expires:
        raw["expires_in_seconds"] = parse_duration(expires)
    if budget_usd is not None:
        raw["budget"] = {"usd": budget_usd, "period": budget_period}
    spec = validated(KeyCreate, raw)
    row = target.call("POST", "/keys", spec, lambda s: s.create_key(spec, actor=actor()))
    if json_output:
        emit_json(row)
    else:
        _show_secret(row, "Created key")


@keys_app.command("list")
def keys_list(  # noqa: PLR0917 - typer maps parameters to options
    team: Annotated[str | None, typer.Option(help="Only this team's keys.")] = None,
    status: Annotated[str | None, typer.Option(help="active, revoked or expired.")] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    admin_key: AdminKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """List keys (never their secrets)."""
    if status not in (None, "active", "revoked", "expired"):
        raise typer.BadParameter("status is active, revoked or expired")
    target = Target(config, url, admin_key)
    query = "&".join(f"{k}={quote(v)}" for k, v in (("team", team), ("status", status)) if v)
    rows = target.call(
        "GET",
        "/keys" + (f"?{query}" if query else ""),
        None,
        lambda s: s.list_keys(team=team, status=status),  # type: ignore[arg-type]
    )
    if json_output:
        emit_json(rows)
    else:
        _keys_table(rows)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id or display prefix (mr-xxxxxxxx).")],
    config: ConfigOption = None,
    url: UrlOption = None,
    admin_key: AdminKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Revoke a key; every worker refuses it within about a second."""
    target = Target(config, url, admin_key)
    row = target.call("POST", f"/keys/{quote(key)}/revoke", None, lambda s: s.revoke_key(key, actor=actor()))
    if json_output:
        emit_json(row)
    else:
        Console().print(f"Revoked {row['id']} ({row['display']}).", highlight=False)


@keys_app.command("rotate")
def keys_rotate(  # noqa: PLR0917 - typer maps parameters to options
    key: Annotated[str, typer.Argument(help="Key id or display prefix.")],
    grace: Annotated[str, typer.Option(help="How long the old secret keeps working, e.g. 0, 10m, 1d.")] = "0",
    config: ConfigOption = None,
    url: UrlOption = None,
    admin_key: AdminKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Give a key a new secret (printed once); the old one works for the grace period."""
    target = Target(config, url, admin_key)
    body = RotateRequest(grace_seconds=parse_duration(grace))
    row = target.call(
        "POST",
        f"/keys/{quote(key)}/rotate",
        body,
        lambda s: s.rotate_key(key, grace_seconds=body.grace_seconds, actor=actor()),
    )
    if json_output:
        emit_json(row)
    else:
        _show_secret(row, "Rotated key")
