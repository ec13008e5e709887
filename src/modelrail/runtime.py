"""Everything one app instance holds: built by :mod:`modelrail.app`, never at import time."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelrail.auth.base import Authenticator
from modelrail.gateway import Gateway
from modelrail.guardrails.inputs import InputGuard, InputSettings
from modelrail.providers.base import Provider
from modelrail.router.router import Router
from modelrail.settings import Settings
from modelrail.store.keys import KeyStore


@dataclass(slots=True)
class Runtime:
    settings: Settings
    auth: Authenticator
    router: Router
    gateway: Gateway
    providers: list[Provider] = field(default_factory=list)
    # What a request may carry upstream (routing fields, media URLs): built once from ``inputs``.
    inputs: InputGuard = field(default_factory=lambda: InputGuard(InputSettings()))
    ready: bool = False
    draining: bool = False
    # Teams and API keys (the admin API, tests); the authenticator reads it through its cache.
    key_store: KeyStore | None = None
