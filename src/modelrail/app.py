"""The app factory: builds every component from Settings and holds them. No module globals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from pydantic import ValidationError
from starlette.applications import Starlette

from modelrail.api import health, messages, models, openai_endpoints
from modelrail.api.drain import watch_signals
from modelrail.api.lazy import LazyApp
from modelrail.api.pipeline import ModelrailApp, Mount
from modelrail.api.request_id import RequestIds
from modelrail.auth.key_auth import KeyAuthenticator
from modelrail.auth.master_key import load_or_create_master_key
from modelrail.gateway import Gateway
from modelrail.guardrails.inputs import InputGuard
from modelrail.providers.base import Provider
from modelrail.providers.registry import UnknownProvider, provider_class
from modelrail.router.breaker import Breakers, build_store
from modelrail.router.config import unknown_aliases
from modelrail.router.costs import price_deployments
from modelrail.router.deployment import Deployment
from modelrail.router.quota import DeploymentQuota
from modelrail.router.router import Router
from modelrail.runtime import Runtime
from modelrail.settings import ConfigError, DeploymentSettings, Settings
from modelrail.stages import Admission, LogUsageSink, OpenAdmission, UsageSink
from modelrail.stages_build import build_pricing, build_stages
from modelrail.state.base import StateBackend
from modelrail.state.factory import build_state
from modelrail.store.db import redact_url
from modelrail.store.factory import build_key_store
from modelrail.usage.pricing import Pricing

log = logging.getLogger("modelrail")


def build_deployments(settings: Settings) -> tuple[dict[str, list[Deployment]], list[Provider]]:
    table, providers, _ = _build_deployments(settings)
    return table, providers


def _build_deployments(settings: Settings) -> tuple[dict[str, list[Deployment]], list[Provider], Pricing]:
    """The alias -> deployments table, its providers, and the one pricing of billing and routing."""
    table: dict[str, list[Deployment]] = {}
    providers: list[Provider] = []
    for i, entry in enumerate(settings.models):
        provider = build_provider(entry, where=f"{settings.source}: models[{i}]")
        providers.append(provider)
        dep = Deployment(
            id=f"{entry.name}#{len(table.get(entry.name, []))}",
            alias=entry.name,
            provider=provider,
            model=provider.config.model,
            weight=entry.weight,
            timeouts=entry.timeouts,
            region=entry.region,
            max_in_flight=entry.max_in_flight,
            rpm=entry.rpm,
            tpm=entry.tpm,
            cost=entry.cost,
        )
        table.setdefault(entry.name, []).append(dep)
    problems = unknown_aliases(settings.router, set(table))
    if problems:
        raise ConfigError("\n".join(f"{settings.source}: {p}" for p in problems))
    pricing = build_pricing(settings, table)
    price_deployments(table, pricing)
    return table, providers, pricing


def build_provider(entry: DeploymentSettings, *, where: str) -> Provider:
    try:
        cls = provider_class(entry.provider)
    except UnknownProvider:
        raise ConfigError(f"{where}.provider: unknown provider '{entry.provider}'") from None
    try:
        config = cls.config_model.model_validate(entry.provider_options())
    except ValidationError as exc:
        details = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"])
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            details.append(f"{where}.{field}: {msg}")
        raise ConfigError("\n".join(details)) from None
    return cls(config)


def create_app(
    settings: Settings,
    *,
    admission: Admission | None = None,
    usage: UsageSink | None = None,
) -> Starlette:
    """Build an app. Stages not given fall back to their pass-through defaults."""
    table, providers, pricing = _build_deployments(settings)
    master_key = settings.auth.master_key
    if not master_key:
        master_key, _ = load_or_create_master_key(settings.resolved_data_dir())
    key_store = build_key_store(settings)
    auth = KeyAuthenticator(
        key_store,
        master_key=master_key,
        poll_interval=settings.auth.key_poll_interval,
        max_staleness=settings.auth.key_max_staleness,
        touch_interval=settings.auth.key_touch_interval,
    )
    breakers = Breakers(settings.router.breaker, build_store(settings.router.breaker, settings.state))
    # Limits, budgets and the ledger, from the config, unless a caller (a test) brings its own stages.
    stages = build_stages(settings, table, pricing=pricing) if admission is None or usage is None else None
    # Deployment limits count in the same shared state as the key, team and model limits.
    own_state: StateBackend | None = None
    quota: DeploymentQuota | None = None
    if any(d.rpm is not None or d.tpm is not None for deps in table.values() for d in deps):
        if stages is None:
            own_state = build_state(settings.state)
        state = stages.state if stages is not None else own_state
        assert state is not None
        estimator = stages.meter.estimator if stages is not None else None
        quota = DeploymentQuota(state, estimator, settings.limits.expected_output_tokens)
    router = Router(table, settings=settings.router, breakers=breakers, quota=quota)
    gateway = Gateway(
        router=router,
        admission=admission or (stages.admission if stages else OpenAdmission()),
        usage=usage or (stages.usage if stages else LogUsageSink()),
    )
    rt = Runtime(
        settings=settings,
        auth=auth,
        router=router,
        gateway=gateway,
        providers=providers,
        inputs=InputGuard(settings.inputs),
    )
    rt.key_store = key_store

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started = time.perf_counter()
        # Migrations run here, before any request; a worker that cannot reach its database stops.
        await key_store.db.ready()
        log.info("key store: %s", redact_url(key_store.db.url))
        # The stages warm the token counter while the providers open clients and load models.
        usage_start = stages.start() if stages is not None else _call_if_present(gateway.usage, "start")
        await asyncio.gather(usage_start, *(p.start() for p in providers))
        await _call_if_present(gateway.admission, "start")
        rt.ready = True
        unwatch = watch_signals(rt)
        log.info(
            "ready: %d model alias(es) in %.2f s: %s",
            len(table),
            time.perf_counter() - started,
            ", ".join(table) or "none",
        )
        try:
            yield
        finally:
            rt.ready = False
            unwatch()
            await asyncio.gather(*(p.close() for p in providers), return_exceptions=True)
            await gateway.usage.close()
            await _call_if_present(gateway.admission, "close")
            await auth.close()
            await router.close()
            if own_state is not None:
                await own_state.close()
            await key_store.db.close()

    app = ModelrailApp(
        runtime=rt,
        # Every route goes through one dispatcher (api/pipeline.py); the endpoint table's routes
        # come from it (modelrail/endpoints.py), in the dialect each endpoint speaks.
        routes=[*openai_endpoints.routes(), *messages.routes(), *models.routes, *health.routes],
        prefix_routes=models.prefix_routes,
        # Built on the first admin request: FastAPI costs a completion-only worker ~24 MiB.
        mounts=[
            Mount(
                "/admin",
                LazyApp("modelrail.api.admin", lambda m: m.build_admin_app(key_store, rt)),
                admin_only=True,
                public=frozenset({"/admin/v1/docs", "/admin/v1/openapi.json"})
                if settings.admin.public_docs
                else frozenset(),
            )
        ],
        request_ids=RequestIds(),
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app


async def _call_if_present(stage: object, name: str) -> None:
    method = getattr(stage, name, None)
    if method is not None:
        await method()


def app_from_environment() -> Starlette:
    """The factory each server worker calls: the config named by ``MODELRAIL_CONFIG``, or the default."""
    import os
    from pathlib import Path

    from modelrail.settings import load_settings

    path = os.environ.get("MODELRAIL_CONFIG")
    return create_app(load_settings(Path(path) if path else None))
