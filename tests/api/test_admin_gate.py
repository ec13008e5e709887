"""Nothing of an admin request's body is read before its key is checked, and admin bodies are capped."""

from __future__ import annotations

from typing import Any

from modelrail.app import create_app
from tests.conftest import AUTH, make_settings, running


async def call(app: Any, path: str, headers: list[tuple[bytes, bytes]], body_chunks: int = 3) -> tuple[int, int]:
    """(status, how many body messages the app asked for) for a POST made straight through ASGI."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        more = asked < body_chunks
        return {"type": "http.request", "body": b" " * 1024 if more else b"{}", "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    await app(scope, receive, send)
    return sent[0]["status"], asked


async def test_no_key_no_body_read() -> None:
    app = create_app(make_settings())
    async with running(app):
        huge = [(b"content-type", b"application/json"), (b"content-length", b"300000000")]
        status, asked = await call(app, "/admin/v1/teams", huge)
        assert status == 401 and asked == 0
        regular = [*huge, (b"authorization", b"Bearer not-a-real-key-0000000000000")]
        status, asked = await call(app, "/admin/v1/teams", regular)
        assert status == 401 and asked == 0


async def test_an_admin_body_over_the_cap_is_refused_unread() -> None:
    app = create_app(make_settings())
    key = AUTH["authorization"].encode()
    async with running(app):
        status, asked = await call(app, "/admin/v1/teams", [(b"authorization", key), (b"content-length", b"300000000")])
        assert status == 413 and asked == 0


async def test_a_body_longer_than_it_said_stops_being_read() -> None:
    app = create_app(make_settings())
    key = AUTH["authorization"].encode()
    async with running(app):
        # No length given, and a million chunks on offer: the cap ends it long before.
        status, asked = await call(app, "/admin/v1/teams", [(b"authorization", key)], body_chunks=1_000_000)
        assert asked <= 1024 + 2  # 1 KiB a chunk: read up to the 1 MiB cap, not a byte further
        assert status >= 400


async def test_the_admin_docs_need_a_key_unless_made_public() -> None:
    async with running(create_app(make_settings())) as client:
        assert (await client.get("/admin/v1/openapi.json")).status_code == 401
        assert (await client.get("/admin/v1/docs")).status_code == 401
        assert (await client.get("/admin/v1/openapi.json", headers=AUTH)).status_code == 200
    async with running(create_app(make_settings(admin={"public_docs": True}))) as client:
        assert (await client.get("/admin/v1/openapi.json")).status_code == 200
        assert (await client.get("/admin/v1/teams")).status_code == 401
