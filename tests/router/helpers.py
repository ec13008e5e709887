"""Building apps with several deployments of the fake provider, and reading what the router did."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette

from modelrail.app import create_app
from modelrail.router.deployment import Deployment
from tests.conftest import make_settings

MSG = [{"role": "user", "content": "Say something."}]


def fake(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "provider": "fake", "reply": "one two three four five", **options}


def build(models: list[dict[str, Any]], **router: Any) -> Starlette:
    return create_app(make_settings(models, router=router))


def deps(app: Starlette, alias: str) -> list[Deployment]:
    result: list[Deployment] = app.state.runtime.router.deployments(alias)
    return result


def chat(alias: str, stream: bool = False, content: str = "Say something.") -> dict[str, Any]:
    return {"model": alias, "messages": [{"role": "user", "content": content}], "stream": stream}


def sse_events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def last_event(text: str) -> Any:
    events = sse_events(text)
    return events[-1] if events[-1] == "[DONE]" else orjson.loads(events[-1])
