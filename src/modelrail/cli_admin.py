"""``modelrail keys``, ``modelrail teams`` and ``modelrail migrate``.

They work on the database named by the config directly, or, given ``--url`` and an admin key,
against a running server's admin API. Output is a rich table, or JSON with ``--json``.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import orjson
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from modelrail.errors import ModelrailError
from modelrail.settings import ConfigError, Settings, load_settings
from modelrail.store.keys import KeyStore
from modelrail.store.views import KeyCreate, RotateRequest, TeamCreate

keys_app = typer.Typer(no_args_is_help=True, help="Create, list, rotate and revoke API keys.")
teams_app = typer.Typer(no_args_is_help=True, help="Create and list teams.")

T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (names the database).", envvar="MODELRAIL_CONFIG")
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="A running server's base URL; without it, work on the database.", envvar="MODELRAIL_URL"
    ),
]
AdminKeyOpt = Annotated[
    str | None, typer.Option("--admin-key", help="Admin or master key for --url.", envvar="MODELRAIL_ADMIN_KEY")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in '90', '90s', '15m', '12h', '30d' or '2w'."""
    m = _DURATION.match(text.lower())
    if not m:
        raise typer.BadParameter(f"'{text}' is not a duration like 90s, 15m, 12h, 30d or 2w")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


def _json_obj(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise typer.BadParameter("metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("metadata must be a JSON object")
    return value


def _fail(message: str, code: int = 1) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error[/] {message}", highlight=False)
    return typer.Exit(code)


class _Target:
    """Where the commands act: the database (through KeyStore) or a server's admin API."""

    def __init__(self, config: Path | None, url: str | None, admin_key: str | None) -> None:
        self.url = url.rstrip("/") if url else None
        self.admin_key = admin_key
        self.config = config
        if self.url and not admin_key:
            raise _fail("--url needs an admin key (--admin-key or MODELRAIL_ADMIN_KEY)", 2)

    def call(self, method: str, path: str, body: BaseModel | None, local: Callable[[KeyStore], Awaitable[T]]) -> Any:
        if self.url:
            return self._http(method, path, body)
        return _run_local(_settings(self.config), local)

    def _http(self, method: str, path: str, body: BaseModel | None) -> Any:
        data = body.model_dump_json(exclude_unset=True).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - the operator's own server URL
            f"{self.url}/admin/v1{path}",
            data=data,
            method=method,
            headers={"authorization": f"Bearer {self.admin_key}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                message = orjson.loads(exc.read())["error"]["message"]
            except Exception:
                message = exc.reason
            raise _fail(f"{exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise _fail(f"cannot reach {self.url}: {exc.reason}") from None
        return orjson.loads(raw) if raw else None


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise _fail(f"config error\n{exc}", 2) from None


def _run_local(settings: Settings, action: Callable[[KeyStore], Awaitable[T]]) -> Any:
    from modelrail.store.factory import build_key_store

    async def go() -> Any:
        store = build_key_store(settings, migrate=True)
        try:
            result = await action(store)
        finally:
            await store.db.close()
        return _plain(result)

    try:
        return asyncio.run(go())
    except ModelrailError as exc:
        raise _fail(exc.message) from None


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _emit_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _limits_text(row: dict[str, Any]) -> str:
    lim = row.get("limits") or {}
    parts = [f"{k}={v}" for k, v in lim.items() if v is not None]
    budget = row.get("budget")
    if budget:
        parts.append(f"${budget['usd']:g}/{budget['period']}")
    return " ".join(parts) or "-"


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
            _limits_text(r),
            (r["expires_at"] or "-")[:19],
            (r["last_used_at"] or "-")[:19],
        )
    Console().print(table)


def _show_secret(row: dict[str, Any], what: str) -> None:
    err = Console(stderr=True)
    err.print(f"{what} {row['id']} ({row['display']}). Its secret, shown only now:", highlight=False)
    # The secret goes to stdout alone, so `... | tail -1` or a redirect captures it.
    sys.stdout.write(row["secret"] + "\n")
    if row.get("previous_valid_until"):
        err.print(f"The previous secret works until {row['previous_valid_until']}.", highlight=False)


@keys_app.command("create")
def keys_create(  # noqa: PLR0917 - typer maps parameters to options
    team: Annotated[str | None, typer.Option(help="Team id or name (required for regular keys).")] = None,
    name: Annotated[str, typer.Option(help="A name for the key.")] = "key",
    models: Annotated[str | None, typer.Option(help="Allowed model aliases or globs, comma-separated.")] = None,
    endpoints: Annotated[str | None, typer.Option(help="chat,completions,embeddings,messages (default: all).")] = None,
    env: Annotated[str, typer.Option(help="dev, staging or prod.")] = "dev",
    expires: Annotated[str | None, typer.Option(help="Lifetime, e.g. 30d, 12h.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Cap on output tokens per request.")] = None,
    rpm: Annotated[int | None, typer.Option()] = None,
    tpm: Annotated[int | None, typer.Option()] = None,
    max_concurrency: Annotated[int | None, typer.Option()] = None,
    budget_usd: Annotated[float | None, typer.Option(help="The key's own budget in USD.")] = None,
    budget_period: Annotated[str, typer.Option(help="day, month or total.")] = "month",
    admin: Annotated[bool, typer.Option("--admin", help="Make an admin key (for the admin API).")] = False,
    metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Create a key; its secret is printed once."""
    target = _Target(config, url, admin_key)
    raw: dict[str, Any] = {
        "name": name,
        "team": team,
        "kind": "admin" if admin else "regular",
        "env": env,
        "models": _csv(models),
        "endpoints": _csv(endpoints),
        "max_tokens": max_tokens,
        "metadata": _json_obj(metadata),
        "limits": {"rpm": rpm, "tpm": tpm, "max_concurrency": max_concurrency},
    }
    if expires:
        raw["expires_in_seconds"] = parse_duration(expires)
    if budget_usd is not None:
        raw["budget"] = {"usd": budget_usd, "period": budget_period}
    spec = _validated(KeyCreate, raw)
    row = target.call("POST", "/keys", spec, lambda s: s.create_key(spec, actor=_actor()))
    if json_output:
        _emit_json(row)
    else:
        _show_secret(row, "Created key")


@keys_app.command("list")
def keys_list(  # noqa: PLR0917 - typer maps parameters to options
    team: Annotated[str | None, typer.Option(help="Only this team's keys.")] = None,
    status: Annotated[str | None, typer.Option(help="active, revoked or expired.")] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List keys (never their secrets)."""
    if status not in (None, "active", "revoked", "expired"):
        raise typer.BadParameter("status is active, revoked or expired")
    target = _Target(config, url, admin_key)
    query = "&".join(f"{k}={quote(v)}" for k, v in (("team", team), ("status", status)) if v)
    rows = target.call(
        "GET",
        "/keys" + (f"?{query}" if query else ""),
        None,
        lambda s: s.list_keys(team=team, status=status),  # type: ignore[arg-type]
    )
    if json_output:
        _emit_json(rows)
    else:
        _keys_table(rows)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id or display prefix (mr-xxxxxxxx).")],
    config: ConfigOpt = None,
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Revoke a key; every worker refuses it within about a second."""
    target = _Target(config, url, admin_key)
    row = target.call("POST", f"/keys/{quote(key)}/revoke", None, lambda s: s.revoke_key(key, actor=_actor()))
    if json_output:
        _emit_json(row)
    else:
        Console().print(f"Revoked {row['id']} ({row['display']}).", highlight=False)


@keys_app.command("rotate")
def keys_rotate(  # noqa: PLR0917 - typer maps parameters to options
    key: Annotated[str, typer.Argument(help="Key id or display prefix.")],
    grace: Annotated[str, typer.Option(help="How long the old secret keeps working, e.g. 0, 10m, 1d.")] = "0",
    config: ConfigOpt = None,
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Give a key a new secret (printed once); the old one works for the grace period."""
    target = _Target(config, url, admin_key)
    body = RotateRequest(grace_seconds=parse_duration(grace))
    row = target.call(
        "POST",
        f"/keys/{quote(key)}/rotate",
        body,
        lambda s: s.rotate_key(key, grace_seconds=body.grace_seconds, actor=_actor()),
    )
    if json_output:
        _emit_json(row)
    else:
        _show_secret(row, "Rotated key")


@teams_app.command("create")
def teams_create(  # noqa: PLR0917 - typer maps parameters to options
    name: Annotated[str, typer.Argument(help="The team's name.")],
    rpm: Annotated[int | None, typer.Option()] = None,
    tpm: Annotated[int | None, typer.Option()] = None,
    max_concurrency: Annotated[int | None, typer.Option()] = None,
    budget_usd: Annotated[float | None, typer.Option(help="Budget in USD per period.")] = None,
    budget_period: Annotated[str, typer.Option(help="day, month or total.")] = "month",
    alerts: Annotated[str | None, typer.Option(help="Alert thresholds, e.g. 0.5,0.8,1.0.")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object.")] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Create a team with default limits and a budget."""
    target = _Target(config, url, admin_key)
    raw: dict[str, Any] = {
        "name": name,
        "metadata": _json_obj(metadata),
        "limits": {"rpm": rpm, "tpm": tpm, "max_concurrency": max_concurrency},
    }
    if budget_usd is not None:
        budget: dict[str, Any] = {"usd": budget_usd, "period": budget_period}
        if alerts:
            budget["alert_thresholds"] = [float(a) for a in _csv(alerts)]
        raw["budget"] = budget
    spec = _validated(TeamCreate, raw)
    row = target.call("POST", "/teams", spec, lambda s: s.create_team(spec, actor=_actor()))
    if json_output:
        _emit_json(row)
    else:
        Console().print(f"Created team {row['name']} ({row['id']}).", highlight=False)


@teams_app.command("list")
def teams_list(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List teams."""
    target = _Target(config, url, admin_key)
    rows = target.call("GET", "/teams", None, lambda s: s.list_teams())
    if json_output:
        _emit_json(rows)
        return
    table = Table("id", "name", "limits", "metadata", "created")
    for r in rows:
        table.add_row(r["id"], r["name"], _limits_text(r), orjson.dumps(r["metadata"]).decode(), r["created_at"][:19])
    Console().print(table)


def migrate(config: ConfigOpt = None) -> None:
    """Bring the database schema to the newest revision."""
    from modelrail.store.db import Database, redact_url
    from modelrail.store.factory import database_url
    from modelrail.store.migrate import upgrade

    url = database_url(_settings(config))

    async def go() -> tuple[str | None, str | None]:
        db = Database(url, migrate=False)
        try:
            return await upgrade(db.engine)
        finally:
            await db.close()

    before, after = asyncio.run(go())
    where = redact_url(url)
    if before == after:
        Console().print(f"{where}: up to date ({after})", highlight=False)
    else:
        Console().print(f"{where}: migrated {before or 'empty'} -> {after}", highlight=False)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], raw: dict[str, Any]) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise _fail(f"{field}: {first['msg']}", 2) from None
