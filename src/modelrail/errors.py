"""One exception tree. Each class knows its HTTP status and OpenAI error type.

Handlers raise these; the API edge turns them into OpenAI's (or Anthropic's) error object.
Provider adapters translate their library's exceptions into this tree once, at their edge.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ModelrailError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = headers or {}

    def to_openai(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(ModelrailError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(ModelrailError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(ModelrailError):
    status = 403
    type = "permission_error"


class NotFound(ModelrailError):
    status = 404
    type = "invalid_request_error"


class Conflict(ModelrailError):
    """The request clashes with what exists (a taken name, a team that still has keys)."""

    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class MethodNotAllowed(ModelrailError):
    status = 405
    type = "invalid_request_error"


class PayloadTooLarge(ModelrailError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(ModelrailError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class QuotaExceeded(ModelrailError):
    status = 429
    type = "insufficient_quota"
    default_code = "insufficient_quota"


class Overloaded(ModelrailError):
    """modelrail itself is busy (a full local queue, draining on shutdown)."""

    status = 503
    type = "server_error"
    default_code = "overloaded"


class StateUnavailable(ModelrailError):
    """The shared state (Redis) cannot be reached: limits and budgets cannot be checked, so refuse."""

    status = 503
    type = "server_error"
    default_code = "state_unavailable"


class InternalError(ModelrailError):
    status = 500
    type = "server_error"
    default_code = "internal_error"


class UpstreamError(ModelrailError):
    """The upstream answered with an error, or broke the connection.

    ``retryable`` and ``retry_after`` drive the router's retry and fallback decisions;
    ``upstream_status`` keeps what the provider said, for logs and the breaker.
    """

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"
    # The upstream's own id of the failed request (its ``x-request-id``), set by the transport, for logs.
    upstream_request_id: str | None = None
    # A timeout that fired at a deadline the client tightened (x-modelrail-timeout,
    # x-modelrail-ttft-timeout), set by the router: not the deployment's fault.
    client_deadline: bool = False

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.upstream_status = upstream_status
        self.retryable = retryable
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    status = 503
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    default_code = "upstream_timeout"


class UpstreamRateLimited(UpstreamError):
    """The provider rate-limited us; the client sees 429 only when no retry or fallback helped."""

    status = 429
    type = "rate_limit_error"
    default_code = "upstream_rate_limited"


class UpstreamBadRequest(UpstreamError):
    """The provider rejected the request itself (4xx): the client's request is at fault."""

    status = 400
    type = "invalid_request_error"
    default_code = "upstream_bad_request"


class ContextWindowExceeded(UpstreamBadRequest):
    default_code = "context_length_exceeded"
