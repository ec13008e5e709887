"""Finds a provider class by name: an installed entry point, or a module of this package.

Adding a provider means adding ``modelrail/providers/<name>.py`` (or a package) that exposes
``PROVIDER``; third-party packages register under the ``modelrail.providers`` entry-point group.
Nothing here lists providers by name.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points

from modelrail.providers.base import Provider

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownProvider(LookupError):
    pass


def provider_class(name: str) -> type[Provider]:
    for ep in entry_points(group="modelrail.providers"):
        if ep.name == name:
            cls = ep.load()
            return _checked(name, cls)
    if not _NAME.match(name) or name in ("base", "registry"):
        raise UnknownProvider(name)
    try:
        module = importlib.import_module(f"modelrail.providers.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"modelrail.providers.{name}":
            raise UnknownProvider(name) from None
        raise
    cls = getattr(module, "PROVIDER", None)
    if cls is None:
        raise UnknownProvider(name)
    return _checked(name, cls)


def _checked(name: str, cls: object) -> type[Provider]:
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise UnknownProvider(name)
    return cls
