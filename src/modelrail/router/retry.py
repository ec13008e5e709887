"""When to retry an upstream error, how long to wait first, and the budget all retries share."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable

from modelrail.errors import ModelrailError, UpstreamBadRequest, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from modelrail.router.config import RetryBudgetSettings, RetrySettings


class RetryPolicy:
    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._statuses = frozenset(settings.on_status)

    @property
    def max_retries(self) -> int:
        return self.settings.max_retries

    def retryable(self, exc: BaseException) -> bool:
        """Worth another attempt: a transient upstream failure, never the client's own mistake."""
        if not isinstance(exc, UpstreamError) or isinstance(exc, UpstreamBadRequest):
            return False
        s = self.settings
        if exc.upstream_status is not None:
            return exc.upstream_status in self._statuses
        if isinstance(exc, UpstreamTimeout):
            return s.on_timeout
        # No status: the connection failed or broke before an answer.
        return s.on_connection_error and (exc.retryable or isinstance(exc, UpstreamUnavailable))

    def backoff(self, retry: int) -> float:
        """Full jitter: uniform over [0, min(max, base * 2**retry)]."""
        s = self.settings
        ceiling = min(s.backoff_max, s.backoff_base * math.pow(2, retry))
        return self._rng.uniform(0, ceiling) if ceiling > 0 else 0.0

    def wait_before(self, retry: int, exc: ModelrailError) -> float | None:
        """Seconds to wait before retrying the same upstream, or None when it asked for longer than
        we are willing to wait (the router then tries another deployment or a fallback)."""
        wait = self.backoff(retry)
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            if asked > self.settings.max_retry_after:
                return None
            wait = max(wait, asked)
        return wait


class RetryBudget:
    """Retries allowed: ``min_retries + ratio * requests`` over a sliding window, counted in
    one-second buckets. Per process: each replica keeps its own upstream load in check."""

    def __init__(self, settings: RetryBudgetSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        # (second, requests, retries), oldest first.
        self._buckets: deque[list[int]] = deque()

    def _bucket(self) -> list[int]:
        now = int(self._clock())
        horizon = now - math.ceil(self.settings.window)
        while self._buckets and self._buckets[0][0] <= horizon:
            self._buckets.popleft()
        if not self._buckets or self._buckets[-1][0] != now:
            self._buckets.append([now, 0, 0])
        return self._buckets[-1]

    def record_request(self) -> None:
        self._bucket()[1] += 1

    def totals(self) -> tuple[int, int]:
        self._bucket()
        return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)

    def try_spend(self) -> bool:
        """Take one retry from the budget if there is one left."""
        bucket = self._bucket()
        requests, retries = self.totals()
        if retries >= self.settings.min_retries + self.settings.ratio * requests:
            return False
        bucket[2] += 1
        return True
