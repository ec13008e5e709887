"""Redis's exceptions become modelrail's, at the edge: one context manager for every Redis client
(the shared state and the breaker store), so callers only ever see :class:`StateUnavailable`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from modelrail.errors import StateUnavailable


@contextlib.contextmanager
def redis_errors(what: str = "The shared state (Redis)") -> Iterator[None]:
    """Raise :class:`StateUnavailable` (naming ``what``) for any Redis error inside the block."""
    # Imported here: redis is an optional extra, and this module is imported without it.
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise StateUnavailable(f"{what} is unavailable: {type(exc).__name__}.") from exc
