"""Where ``keys`` and ``teams`` act: the database named by the config (through the key store), or,
given ``--url`` and an admin key, a running server's admin API. Output is a rich table, or JSON
with ``--json``."""

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

import orjson
import typer
from pydantic import BaseModel, ValidationError

from modelrail.cli.config import fail, load
from modelrail.errors import ModelrailError
from modelrail.settings import Settings
from modelrail.store.keys import KeyStore

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="A running server's base URL; without it, work on the database.", envvar="MODELRAIL_URL"
    ),
]
AdminKeyOption = Annotated[
    str | None, typer.Option("--admin-key", help="Admin or master key for --url.", envvar="MODELRAIL_ADMIN_KEY")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Target:
    """The database (through KeyStore) or a server's admin API."""

    def __init__(self, config: Path | None, url: str | None, admin_key: str | None) -> None:
        self.url = url.rstrip("/") if url else None
        self.admin_key = admin_key
        self.config = config
        if self.url and not admin_key:
            raise fail("--url needs an admin key (--admin-key or MODELRAIL_ADMIN_KEY)", 2)

    def call(self, method: str, path: str, body: BaseModel | None, local: Callable[[KeyStore], Awaitable[T]]) -> Any:
        if self.url:
            return self._http(method, path, body)
        return _run_local(load(self.config), local)

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
            raise fail(f"{exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise fail(f"cannot reach {self.url}: {exc.reason}") from None
        return orjson.loads(raw) if raw else None


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
        raise fail(exc.message) from None


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def emit_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def parse_duration(text: str) -> int:
    """Seconds in '90', '90s', '15m', '12h', '30d' or '2w'."""
    m = _DURATION.match(text.lower())
    if not m:
        raise typer.BadParameter(f"'{text}' is not a duration like 90s, 15m, 12h, 30d or 2w")
    return int(m.group(1)) * _UNITS[m.group(2)]


def csv_list(text: str | None) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


def json_obj(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise typer.BadParameter("metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("metadata must be a JSON object")
    return value


def validated(model: type[M], raw: dict[str, Any]) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise fail(f"{field}: {first['msg']}", 2) from None
