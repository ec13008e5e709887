"""Admission: rate limits (each limit of ``limits/schema.py`` per key, team and model) and budget
reservations, checked and reserved in one atomic call to the shared state, and corrected at completion.

Tokens are reserved at admission (prompt estimate + expected output) and corrected to the true
count when the request settles; a budget reserves the worst case (prompt x input price + max
output x output price) and settles to the true cost. Because the check and the reservation are one
atomic step, concurrent requests cannot overspend a budget or pass a limit together.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from modelrail.auth.principal import Budget, Limits, Principal
from modelrail.budgets.alerts import Alerts
from modelrail.budgets.periods import period_of
from modelrail.context import RequestContext
from modelrail.endpoints import ENDPOINTS
from modelrail.errors import InvalidRequest, QuotaExceeded, RateLimited, StateUnavailable
from modelrail.limits.config import LimitsSettings
from modelrail.limits.headers import set_rate_headers
from modelrail.limits.schema import LimitSpec, values_of
from modelrail.state.base import Check, Denied, StateBackend
from modelrail.usage.meter import Meter
from modelrail.usage.pricing import NANO, to_nano

log = logging.getLogger("modelrail.limits")

_SCOPES = {"k": "key", "t": "team", "m": "model"}


class _Slot(NamedTuple):
    """What one check in a reservation stands for."""

    scope: str  # k / t / m
    id: str
    kind: str  # requests / tokens / concurrency (a limit's unit) / budget
    limit: int
    budget: Budget | None = None
    period_id: str = ""
    period_left: float | None = None
    # For a budget: nano-dollars spent below which none of its alert thresholds is reached.
    first_alert: int | None = None
    # For a rate limit: its declaration, and its window in seconds (0: none) for the headers.
    spec: LimitSpec | None = None
    window: float = 0.0


@dataclass(slots=True)
class Reservation:
    prompt_tokens: int
    tokens: int = 0
    cost_nano: int = 0
    checks: list[Check] = field(default_factory=list)
    slots: list[_Slot] = field(default_factory=list)
    plan: _Plan | None = None


class _Rate(NamedTuple):
    """One rate-limit check of a plan: its key (the window's number is appended to a windowed one)."""

    slot: _Slot
    key: str
    window: float  # seconds; 0: no window (concurrency)
    counts_tokens: bool
    ttl: float


class _BudgetCheck(NamedTuple):
    scope: str
    id: str
    budget: Budget
    limit: int  # nano-dollars
    key: str  # the period's id is appended
    first_alert: int | None  # see _Slot


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a principal's requests to one alias check, worked out once: keys, limits, slots.

    Keyed by the principal object's id; the plan holds the principal, so that id cannot be
    reused by another object while the plan is remembered. A changed key or team is a new
    principal object (the key store's cache makes one), so it gets a new plan.
    """

    principal: Principal
    rates: tuple[_Rate, ...]
    slots: tuple[_Slot, ...]
    budgets: tuple[_BudgetCheck, ...]
    # Which of the rate checks count tokens (corrected to the true count) and concurrency (released).
    token_at: tuple[int, ...]
    concurrency_at: tuple[int, ...]
    # Where the request and the token limits are, for the rate-limit headers.
    headers_at: tuple[tuple[int, ...], tuple[int, ...]]


# Plans remembered before the map is emptied (principals and aliases come and go).
_PLANS = 4096


class LimitsAdmission:
    """The :class:`~modelrail.stages.Admission` stage. One instance per app; state lives in the backend."""

    def __init__(self, settings: LimitsSettings, state: StateBackend, meter: Meter, alerts: Alerts) -> None:
        self.settings = settings
        self.state = state
        self.meter = meter
        self.alerts = alerts
        # Keyed by the context object's id: client-chosen request ids need not be unique.
        self._pending: dict[int, Reservation] = {}
        self._periods: dict[tuple[str, int], tuple[str, float | None, float | None]] = {}
        self._plans: dict[tuple[int, str], _Plan] = {}

    async def admit(self, ctx: RequestContext) -> None:
        now = time.time()
        prompt = await self.meter.estimator.prompt_tokens_off_loop(ctx)
        cap = _output_cap(ctx)
        expected = (
            cap
            if cap is not None
            else (self.settings.expected_output_tokens if ENDPOINTS[ctx.endpoint].produces_output else 0)
        )
        tokens = prompt + expected
        ctx.reserved_tokens = tokens
        p = ctx.principal
        plan = self._plans.get((id(p), ctx.alias))
        if plan is None or plan.principal is not p:
            plan = self._plan(p, ctx.alias)
        res = Reservation(prompt, tokens, plan=plan)
        checks = res.checks
        if plan.rates:
            # The window's number is worked out again only where the window changes from one check
            # to the next: once for a plan of per-minute limits.
            seconds, number = 0.0, ""
            for rate in plan.rates:
                window = rate.window
                if window:
                    if window != seconds:
                        seconds = window
                        number = str(int(now // window))
                    key = rate.key + number
                else:
                    key = rate.key
                checks.append(Check(key, tokens if rate.counts_tokens else 1, rate.slot.limit, rate.ttl))
            res.slots.extend(plan.slots)
        if plan.budgets:
            pricing = self.meter.pricing
            if pricing.unpriced(ctx.alias):
                raise InvalidRequest(
                    f"The model '{ctx.alias}' may be answered by a deployment with no price, so a budget "
                    "cannot hold it. The operator can price it in pricing.overrides.",
                    param="model",
                    code="model_not_priced",
                )
            # The worst case: the dearest model that may answer (fallbacks, auto's targets), every
            # choice the request asks for (n, best_of) at its full output cap.
            per_choice = cap if cap is not None else self.settings.max_output_tokens
            res.cost_nano = to_nano(pricing.worst_for(ctx.alias).worst_case(prompt, per_choice * _choices(ctx)))
            for b in plan.budgets:
                pid, ttl, left = self._period(b.budget.period, now)
                checks.append(Check(b.key + pid, res.cost_nano, b.limit, ttl))
                res.slots.append(_Slot(b.scope, b.id, "budget", b.limit, b.budget, pid, left, b.first_alert))
        if checks:
            outcome = await self.state.reserve(checks)
            if isinstance(outcome, Denied):
                raise self._refusal(res.slots[outcome.at], outcome, now)
            set_rate_headers(ctx.response_headers, res.slots, outcome, now, at=plan.headers_at)
        self._pending[id(ctx)] = res

    def _plan(self, p: Principal, alias: str) -> _Plan:
        model_limits = self.settings.models.get(alias)
        scoped: tuple[tuple[str, str | None, Limits | None], ...] = (
            ("k", p.key_id, p.key_limits),
            ("t", p.team_id, p.team_limits),
            ("m", alias, Limits(**values_of(model_limits)) if model_limits else None),
        )  # fmt: skip
        rates: list[_Rate] = []
        for scope, who, lim in scoped:
            if who is None or lim is None:
                continue
            for spec, value in lim.items():
                slot = _Slot(scope, who, spec.unit, value, spec=spec, window=spec.seconds)
                if spec.window is None:
                    rate = _Rate(slot, f"rl:{scope}:{who}:{spec.tag}", 0.0, False, self.settings.concurrency_ttl_s)
                else:
                    # A windowed key names its window (``...:r:<minute>``); it outlives it by a second.
                    key = f"rl:{scope}:{who}:{spec.tag}:"
                    rate = _Rate(slot, key, spec.seconds, spec.unit == "tokens", spec.seconds + 1)
                rates.append(rate)
        budgets: list[_BudgetCheck] = []
        for scope, who, budget in (("k", p.key_id, p.key_budget), ("t", p.team_id, p.team_budget)):
            if who is None or budget is None:
                continue
            thresholds = budget.alert_thresholds
            first = min(round(t * budget.usd * NANO) for t in thresholds) if thresholds and budget.usd > 0 else None
            budgets.append(_BudgetCheck(scope, who, budget, to_nano(budget.usd), f"bud:{scope}:{who}:", first))
        tokens_at = tuple(i for i, r in enumerate(rates) if r.slot.kind == "tokens")
        plan = _Plan(
            p,
            tuple(rates),
            tuple(r.slot for r in rates),
            tuple(budgets),
            tokens_at,
            tuple(i for i, r in enumerate(rates) if r.slot.kind == "concurrency"),
            (tuple(i for i, r in enumerate(rates) if r.slot.kind == "requests"), tokens_at),
        )
        if len(self._plans) >= _PLANS:
            self._plans.clear()
        self._plans[(id(p), alias)] = plan
        return plan

    async def settle(self, ctx: RequestContext) -> None:
        res = self._pending.pop(id(ctx), None)
        cost = self.meter.cost(ctx, res.prompt_tokens if res is not None else None)
        usage = ctx.usage
        assert usage is not None  # the meter filled it in
        self.meter.set_header(ctx, cost)
        if res is None or not res.checks:
            return
        checks, plan = res.checks, res.plan
        assert plan is not None
        deltas: list[Check] = []
        correction = usage.prompt_tokens + usage.completion_tokens - res.tokens
        if correction:
            for i in plan.token_at:
                deltas.append(Check(checks[i].key, correction, None, checks[i].ttl))
        for i in plan.concurrency_at:
            deltas.append(Check(checks[i].key, -1, None, checks[i].ttl))
        budgets_from = len(deltas)
        cost_nano = to_nano(cost)
        for check in checks[len(plan.rates) :]:
            deltas.append(Check(check.key, cost_nano - res.cost_nano, None, check.ttl))
        if not deltas:
            return
        try:
            values = await self.state.adjust(deltas)
        except StateUnavailable as exc:
            # The upstream has answered: the client gets its answer. The counters are off until
            # their windows end (concurrency slots time out after ``concurrency_ttl_s``).
            log.error("settling %s failed: %s", ctx.request_id, exc.message)
            return
        for i, slot in enumerate(res.slots[len(plan.rates) :], budgets_from):
            if cost_nano <= 0 or slot.budget is None or slot.first_alert is None or values[i] < slot.first_alert:
                continue  # no threshold reached: the alerts would find nothing to send
            await self.alerts.check(
                scope=_SCOPES[slot.scope],
                ident=slot.id,
                period=slot.budget.period,
                period_id=slot.period_id,
                ttl=deltas[i].ttl,
                spend=values[i] / NANO,
                budget=slot.budget.usd,
                thresholds=slot.budget.alert_thresholds,
            )

    def _period(self, period: str, now: float) -> tuple[str, float | None, float | None]:
        # Calendar arithmetic per request is measurable; a period's id changes at most once a second here.
        key = (period, int(now))
        hit = self._periods.get(key)
        if hit is None:
            if len(self._periods) > 16:
                self._periods.clear()
            hit = self._periods[key] = period_of(period, now)
        return hit

    async def close(self) -> None:
        await self.alerts.close()
        await self.state.close()

    def _refusal(self, slot: _Slot, denied: Denied, now: float) -> RateLimited | QuotaExceeded:
        who = f"{_SCOPES[slot.scope]} '{slot.id}'"
        if slot.kind == "budget":
            assert slot.budget is not None
            headers = {"retry-after": str(max(1, int(slot.period_left)))} if slot.period_left is not None else {}
            period = "in total" if slot.budget.period == "total" else f"per {slot.budget.period}"
            return QuotaExceeded(
                f"The budget of {who} (${slot.budget.usd:g} {period}) does not cover this request: "
                f"${denied.current / NANO:.6f} is spent or reserved.",
                headers=headers,
            )
        assert slot.spec is not None
        retry = slot.window - now % slot.window if slot.window else 1.0
        return RateLimited(
            f"Rate limit reached for {slot.spec.phrase} on {who}: limit {slot.limit}, used {denied.current}. "
            f"Try again in {retry:.1f}s.",
            headers={"retry-after": str(max(1, round(retry)))},
        )


def _choices(ctx: RequestContext) -> int:
    """How many answers the upstream makes (and bills) for the request: ``n``, or ``best_of``."""
    params = ctx.params
    n = getattr(params, "n", None) or 1
    best_of = getattr(params, "best_of", None) or 1
    return max(int(n), int(best_of))


def _output_cap(ctx: RequestContext) -> int | None:
    params = ctx.params
    fn = getattr(params, "output_cap", None)
    cap = fn() if fn is not None else getattr(params, "max_tokens", None)
    return int(cap) if cap is not None else None
