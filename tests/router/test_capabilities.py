"""Deployments are chosen by what their provider serves (``Provider.serves``), read once at start-up."""

from __future__ import annotations

from typing import Any

from modelrail.app import create_app
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.fake import FakeProvider
from modelrail.router.router import Router
from tests.conftest import AUTH, make_settings, running


class ChatOnly(FakeProvider):
    """A fake that, like a chat model behind a chat-only upstream, cannot embed."""

    kind = "chat-only"

    def serves(self, endpoint: str) -> bool:
        return endpoint != "embeddings"


class OnlyChatMethod(Provider):
    kind = "only-chat"

    async def chat(self, call: Call) -> JSONObject:
        return {}


def test_serves_defaults_to_the_unary_methods_a_provider_implements() -> None:
    provider = OnlyChatMethod(ProviderConfig(model="m"))
    assert provider.serves("chat")
    assert not provider.serves("completions") and not provider.serves("embeddings")
    assert not provider.serves("moderations")
    fake = FakeProvider(FakeProvider.config_model(model="m"))
    assert all(fake.serves(e) for e in ("chat", "completions", "embeddings"))


def _app_with(kinds: list[type[FakeProvider]]) -> tuple[Any, list[FakeProvider]]:
    """An app whose alias ``mixed`` has one deployment per entry of ``kinds``, in order."""
    models = [{"name": "mixed", "provider": "fake", "model": f"m{i}"} for i in range(len(kinds))]
    app = create_app(make_settings(models))
    rt = app.state.runtime
    deps = rt.router.deployments("mixed")
    for dep, kind in zip(deps, kinds, strict=True):
        dep.provider = kind(dep.provider.config)
    # The router reads capabilities when it is built: build it again over the swapped providers.
    router = Router({"mixed": deps}, settings=rt.router.settings, breakers=rt.router.breakers)
    rt.router = rt.gateway.router = router
    return app, [d.provider for d in deps]


async def test_embeddings_go_to_the_deployment_that_serves_them() -> None:
    app, (chat_only, full) = _app_with([ChatOnly, FakeProvider])
    async with running(app) as client:
        for _ in range(6):  # weighted random order: either may come first, the chat-only one is never tried
            r = await client.post("/v1/embeddings", json={"model": "mixed", "input": "a"}, headers=AUTH)
            assert r.status_code == 200, r.text
            assert r.headers["x-modelrail-deployment"] == "mixed#1"
        r = await client.post(
            "/v1/chat/completions",
            json={"model": "mixed", "messages": [{"role": "user", "content": "hi"}]},
            headers=AUTH,
        )
        assert r.status_code == 200, r.text
    assert chat_only.calls + full.calls == 7 and full.calls >= 6


async def test_no_deployment_serves_the_endpoint_is_a_400_before_any_upstream_call() -> None:
    app, providers = _app_with([ChatOnly, ChatOnly])
    async with running(app) as client:
        r = await client.post("/v1/embeddings", json={"model": "mixed", "input": "a"}, headers=AUTH)
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "unsupported_endpoint" and error["param"] == "model"
        assert "/v1/embeddings" in error["message"]
        # An unknown model is still a 404, not this 400.
        r = await client.post("/v1/embeddings", json={"model": "nope", "input": "a"}, headers=AUTH)
        assert r.status_code == 404
    assert sum(p.calls for p in providers) == 0
