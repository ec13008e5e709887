"""Deadlines a client may ask for, in request headers. They can only tighten the operator's.

``x-modelrail-timeout``: seconds for the whole request, every retry and fallback included.
``x-modelrail-ttft-timeout``: seconds to the first token (or the whole answer, unstreamed), per attempt.
Headers, not body fields, so that no unknown field is forwarded to an upstream that may refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from modelrail.errors import InvalidRequest

TIMEOUT_HEADER = "x-modelrail-timeout"
TTFT_TIMEOUT_HEADER = "x-modelrail-ttft-timeout"


def requested_timeouts(headers: Mapping[str, str]) -> tuple[float | None, float | None]:
    return _seconds(headers, TIMEOUT_HEADER), _seconds(headers, TTFT_TIMEOUT_HEADER)


def _seconds(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequest(f"The {name} header must be a positive number of seconds.", param=name)
    return value
