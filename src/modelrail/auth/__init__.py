"""Authentication: a request's credential becomes a :class:`Principal`."""

from modelrail.auth.base import Authenticator
from modelrail.auth.principal import Budget, Limits, Principal, Scopes

__all__ = ["Authenticator", "Budget", "Limits", "Principal", "Scopes"]
