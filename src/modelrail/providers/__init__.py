"""Providers: one module per upstream kind, each exposing ``PROVIDER``, a :class:`Provider` subclass.

A provider with its own wire format is one module on the shared :class:`Transport` (see the
contract in :mod:`modelrail.providers.base`): these names are what it, a plug-in, or a test needs.
"""

from modelrail.providers.base import Call, Provider, ProviderConfig, Timeouts
from modelrail.providers.batches import Chunks, Events, one_by_one
from modelrail.providers.readers import EventFormat
from modelrail.providers.transport import Reply, Transport
from modelrail.providers.upstream_errors import ErrorBody, ErrorReader

__all__ = [
    "Call",
    "Chunks",
    "ErrorBody",
    "ErrorReader",
    "EventFormat",
    "Events",
    "Provider",
    "ProviderConfig",
    "Reply",
    "Timeouts",
    "Transport",
    "one_by_one",
]
