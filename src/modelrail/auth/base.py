"""The interface every authenticator implements, and reading a credential off a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from modelrail.auth.principal import Principal


class Authenticator(Protocol):
    async def authenticate(self, credential: str | None) -> Principal:
        """Return who is calling, or raise :class:`~modelrail.errors.AuthenticationFailed`."""
        ...

    async def close(self) -> None: ...


def credential_from(headers: Mapping[str, str]) -> str | None:
    """The bearer token (OpenAI clients) or ``x-api-key`` (Anthropic clients)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    key = headers.get("x-api-key") or headers.get("api-key")
    return key.strip() if key else None
