"""Configuration: a YAML file plus the environment, validated once at start-up.

Secrets come from the environment through ``${VAR}`` (or ``${VAR:-default}``) references in the
file. A missing variable, an unknown key or a bad value is an error that names the file and the
field, and nothing starts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelrail.budgets.config import AlertSettings
from modelrail.guardrails.inputs import InputSettings
from modelrail.limits.config import LimitsSettings
from modelrail.providers.base import Timeouts
from modelrail.router.config import RouterSettings
from modelrail.state.config import StateSettings
from modelrail.usage.config import LedgerSettings, PricingSettings

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_CONFIG = Path(__file__).parent / "data" / "default.yaml"


class ConfigError(Exception):
    """A config problem, phrased for the operator: where, which field, what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Seconds a client may take to send its request body before it gets a 408.
    read_timeout: float = Field(default=30.0, gt=0)
    # Seconds a client may take to send a request's headers (from its first byte, or from opening
    # the connection) before it gets a 408 and the connection is closed.
    header_timeout: float = Field(default=10.0, gt=0)
    # Open connections one client address may hold (null: no cap). Behind a proxy or load balancer
    # every connection comes from its address: raise this, or set it to null there.
    max_connections_per_client: int | None = Field(default=512, ge=1)
    # Seconds in-flight requests get to finish after SIGTERM.
    graceful_timeout: float = Field(default=30.0, ge=0)
    keep_alive: float = Field(default=5.0, gt=0)
    log_level: str = "info"
    access_log: bool = False


# A master key is an admin credential that never expires: short ones can be guessed.
MIN_MASTER_KEY_LENGTH = 24


class AuthSettings(_Section):
    master_key: str | None = None
    # HMAC pepper for stored key hashes; else MODELRAIL_KEY_PEPPER, else a file in the data dir.
    # Every worker and replica sharing one database needs the same one.
    key_pepper: str | None = None
    # Seconds between each worker's checks for revoked or changed keys (a revocation is seen within
    # about this long) and how old that check may get before cached keys are not trusted.
    key_poll_interval: float = Field(default=0.25, gt=0, le=1.0)
    key_max_staleness: float = Field(default=1.0, gt=0)
    # Seconds between batched writes of keys' last_used_at.
    key_touch_interval: float = Field(default=5.0, gt=0)


class AdminSettings(_Section):
    # The admin API's Swagger page and OpenAPI document without a key (they list routes, not data).
    public_docs: bool = False


class DatabaseSettings(_Section):
    # SQLAlchemy async URL; default: SQLite in the data dir. PostgreSQL: postgresql+asyncpg://user:pw@host/db
    url: str | None = None
    migrate_on_start: bool = True
    echo: bool = False


class DeploymentSettings(BaseModel):
    """One ``models:`` entry. Keys not named here belong to the provider's own config model."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    name: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str | None = None
    weight: float = Field(default=1.0, gt=0)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    region: str | None = None
    # USD per million tokens (input plus output) for the lowest_cost strategy; default: the pricing table.
    cost: float | None = Field(default=None, ge=0)
    # Calls this deployment may have in flight in one process; beyond it the router goes elsewhere.
    max_in_flight: int | None = Field(default=None, ge=1)
    # Requests and tokens per minute this deployment may send upstream, counted across every worker and
    # replica (the shared state); beyond them the router goes to another deployment, or answers 429.
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)

    def provider_options(self) -> dict[str, Any]:
        """The provider's own keys, with ``model`` defaulting to the alias."""
        options = dict(self.model_extra or {})
        options["model"] = self.model or self.name
        return options


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    data_dir: Path | None = None
    models: list[DeploymentSettings] = Field(default_factory=list)
    router: RouterSettings = Field(default_factory=RouterSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    inputs: InputSettings = Field(default_factory=InputSettings)
    source: str = Field(default="<defaults>", exclude=True)

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir.expanduser()
        env = os.environ.get("MODELRAIL_DATA_DIR")
        if env:
            return Path(env).expanduser()
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "modelrail"


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read, expand and validate a config file (the embedded default when ``path`` is None)."""
    env = dict(os.environ) if env is None else env
    source = path if path is not None else DEFAULT_CONFIG
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the config file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    expanded = _expand(raw, env, str(source), ())
    return settings_from_dict(expanded, source=str(source), env=env)


def settings_from_dict(data: dict[str, Any], *, source: str = "<dict>", env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    settings.source = source
    if env.get("MODELRAIL_MASTER_KEY"):
        settings.auth.master_key = env["MODELRAIL_MASTER_KEY"]
    key = settings.auth.master_key
    if key and len(key) < MIN_MASTER_KEY_LENGTH:
        where = "MODELRAIL_MASTER_KEY" if env.get("MODELRAIL_MASTER_KEY") else f"{source}: auth.master_key"
        raise ConfigError(
            f"{where}: the master key must be at least {MIN_MASTER_KEY_LENGTH} characters; "
            "leave it unset and modelrail generates one"
        )
    return settings


def _expand(value: Any, env: dict[str, str], source: str, where: tuple[str | int, ...]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            field = _field_name(where)
            raise ConfigError(f"{source}: {field}: environment variable {name} is not set")

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, source, (*where, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, source, (*where, i)) for i, v in enumerate(value)]
    return value


def _field_name(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "<top level>"


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{source}: {_field_name(loc)}: {msg}")
    return "\n".join(lines)
