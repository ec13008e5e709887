"""The limit options of ``keys create`` and ``teams create``, one per limit of the schema."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from modelrail.limits.schema import LIMITS, NAMES

R = TypeVar("R")


def limit_options(fn: Callable[..., R]) -> Callable[..., R]:
    """Put one ``--<name>`` option per limit (``--rpm``, ``--max-concurrency``...) where ``fn`` has
    its ``limits`` parameter; ``fn`` receives their values in it, as a dict by limit name."""
    signature = inspect.signature(fn, eval_str=True)
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != "limits":
            params.append(param)
            continue
        for spec in LIMITS:
            option = typer.Option("--" + spec.name.replace("_", "-"), help=spec.description)
            params.append(param.replace(name=spec.name, default=None, annotation=Annotated[int | None, option]))

    @functools.wraps(fn)
    def with_limits(*args: Any, **kwargs: Any) -> R:
        return fn(*args, limits={name: kwargs.pop(name, None) for name in NAMES}, **kwargs)

    # typer reads the options from the signature.
    setattr(with_limits, "__signature__", signature.replace(parameters=params))  # noqa: B010
    return with_limits


def limits_text(row: dict[str, Any]) -> str:
    """A key's or a team's limits and budget in one table cell: ``rpm=60 $10/month``."""
    lim = row.get("limits") or {}
    parts = [f"{k}={v}" for k, v in lim.items() if v is not None]
    budget = row.get("budget")
    if budget:
        parts.append(f"${budget['usd']:g}/{budget['period']}")
    return " ".join(parts) or "-"
