"""Building the pipeline's stages from Settings: pricing, admission (limits + budgets) and usage (ledger).

One :class:`~modelrail.usage.pricing.Pricing` prices both billing (the meter) and routing (the
``lowest_cost`` strategy, router/costs.py): ``create_app`` builds it once and hands it here.

In tests::

    settings = settings_from_dict({...})
    stages = build_stages(settings, table)          # or create_app(settings) builds them itself
    app = create_app(settings, admission=stages.admission, usage=stages.usage)

The app's lifespan calls ``start`` (ledger replay, background writers) and ``close`` (flush).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelrail.budgets.alerts import Alerts
from modelrail.budgets.config import AlertSettings
from modelrail.context import RequestContext
from modelrail.limits.admission import LimitsAdmission
from modelrail.limits.config import LimitsSettings
from modelrail.state.base import StateBackend
from modelrail.state.config import StateSettings
from modelrail.state.factory import build_state
from modelrail.usage.config import LedgerSettings, PricingSettings
from modelrail.usage.estimate import Estimator
from modelrail.usage.ledger import Ledger
from modelrail.usage.meter import Meter
from modelrail.usage.pricing import DeploymentRef, Pricing

log = logging.getLogger("modelrail.usage")

JOURNAL_DIR = "ledger-journal"


class PricedLogSink:
    """The usage stage when the ledger is off: the cost still reaches the log."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def record(self, ctx: RequestContext) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "usage key=%s model=%s status=%s cost_usd=%.8f", ctx.principal.key_id, ctx.alias, ctx.status,
                self.meter.cost(ctx),
            )  # fmt: skip

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(slots=True)
class Stages:
    state: StateBackend
    meter: Meter
    alerts: Alerts
    admission: LimitsAdmission
    usage: Ledger | PricedLogSink
    aliases: tuple[str, ...] = ()

    async def start(self) -> None:
        # Token encodings take most of a second to load: pay that at start-up, off the event loop.
        await asyncio.to_thread(self.meter.estimator.warm, self.aliases)
        await self.usage.start()

    async def close(self) -> None:
        await self.usage.close()
        await self.admission.close()


def deployment_refs(table: Mapping[str, Sequence[Any]]) -> list[DeploymentRef]:
    """From the app's alias -> deployments table (objects with id, alias, provider.kind, model)."""
    return [
        DeploymentRef(id=d.id, alias=d.alias, provider=getattr(d.provider, "kind", ""), model=d.model)
        for deps in table.values()
        for d in deps
    ]


def build_pricing(settings: Any, table: Mapping[str, Sequence[Any]]) -> Pricing:
    """The one pricing of an app: the shipped table under ``pricing.overrides`` and ``free_providers``."""
    pricing_settings: PricingSettings = settings.pricing
    return Pricing(pricing_settings, deployment_refs(table), routes=settings.router.routes(table))


def ledger_url(settings: Any) -> str:
    """``ledger.database_url``, else the store's ``database.url``, else SQLite in the data dir."""
    ledger: LedgerSettings = settings.ledger
    if ledger.database_url:
        return ledger.database_url
    database = getattr(settings, "database", None)
    url = getattr(database, "url", None)
    if url:
        return str(url)
    return f"sqlite+aiosqlite:///{Path(settings.resolved_data_dir()) / 'modelrail.db'}"


def build_stages(
    settings: Any,
    table: Mapping[str, Sequence[Any]],
    *,
    state: StateBackend | None = None,
    estimator: Estimator | None = None,
    pricing: Pricing | None = None,
) -> Stages:
    """``settings`` is :class:`modelrail.settings.Settings` (typed loosely to avoid an import cycle).
    ``pricing``, when given, is the one the router's costs came from (see :func:`build_pricing`)."""
    state_settings: StateSettings = settings.state
    limits: LimitsSettings = settings.limits
    ledger_settings: LedgerSettings = settings.ledger
    alert_settings: AlertSettings = settings.alerts
    backend = state if state is not None else build_state(state_settings)
    if pricing is None:
        pricing = build_pricing(settings, table)
    meter = Meter(pricing, estimator or Estimator())
    alerts = Alerts(alert_settings, backend)
    admission = LimitsAdmission(limits, backend, meter, alerts)
    usage: Ledger | PricedLogSink
    if ledger_settings.enabled:
        journal = ledger_settings.journal_dir or Path(settings.resolved_data_dir()) / JOURNAL_DIR
        usage = Ledger(ledger_settings, meter, ledger_url(settings), Path(journal).expanduser())
    else:
        usage = PricedLogSink(meter)
    return Stages(backend, meter, alerts, admission, usage, tuple(table))
