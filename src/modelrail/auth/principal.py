"""Who is calling, and what they may do."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Scopes:
    """What a key may call. Empty model and endpoint lists mean no restriction."""

    models: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    max_tokens: int | None = None

    def allows_model(self, alias: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(alias, p) for p in self.models)

    def allows_endpoint(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    team_id: str | None = None
    is_admin: bool = False
    scopes: Scopes = field(default_factory=Scopes)
