"""What a finished request used and cost: the upstream's count where it gave one, else an estimate."""

from __future__ import annotations

from modelrail.context import RequestContext, Usage
from modelrail.usage.estimate import Estimator, streamed_text
from modelrail.usage.pricing import Pricing

COST_HEADER = "x-modelrail-cost-usd"


class Meter:
    def __init__(self, pricing: Pricing, estimator: Estimator) -> None:
        self.pricing = pricing
        self.estimator = estimator

    def finalize(self, ctx: RequestContext, prompt_estimate: int | None = None) -> Usage:
        """Fill ``ctx.usage`` if the upstream gave none, and return it.

        A stream that ended without a usage chunk (cut off, or the client left) is billed for its
        prompt and the text it had generated. A call that failed before any output bills nothing:
        the upstream did not answer.
        """
        if ctx.usage is not None:
            return ctx.usage
        text = streamed_text(ctx)
        if ctx.ttft is None and not text:
            usage = Usage(estimated=True)
        else:
            prompt = prompt_estimate if prompt_estimate is not None else self.estimator.prompt_tokens(ctx)
            usage = Usage(prompt, self.estimator.text_tokens(ctx.alias, text), 0, estimated=True)
        ctx.usage = usage
        return usage

    def cost(self, ctx: RequestContext, prompt_estimate: int | None = None) -> float:
        """What the request cost: priced once, from ``finalize``'s usage, then remembered on ``ctx``."""
        if ctx.cost_usd is None:
            usage = self.finalize(ctx, prompt_estimate)
            ctx.cost_usd = self.pricing.for_deployment(ctx.deployment, ctx.alias).cost(usage)
        return ctx.cost_usd

    def set_header(self, ctx: RequestContext, cost: float) -> None:
        ctx.response_headers[COST_HEADER] = f"{cost:.10f}".rstrip("0").rstrip(".") or "0"
