"""The endpoint table: each endpoint declared once, and what reads it."""

from __future__ import annotations

from modelrail.auth.principal import Scopes
from modelrail.endpoints import BY_PATH, ENDPOINTS, SCOPES


def test_the_endpoint_table_is_the_one_list_of_endpoints() -> None:
    assert set(ENDPOINTS) == {"chat", "completions", "embeddings", "messages"}
    assert BY_PATH["/v1/messages"].dialect == "anthropic" and BY_PATH["/v1/messages"].provider_endpoint == "chat"
    assert not ENDPOINTS["embeddings"].produces_output and not ENDPOINTS["embeddings"].streams
    assert all(spec.dialect == "openai" for name, spec in ENDPOINTS.items() if name != "messages")
    assert {spec.provider_endpoint for spec in ENDPOINTS.values()} == {"chat", "completions", "embeddings"}
    assert SCOPES == ("chat", "completions", "embeddings", "messages")


def test_key_scopes_name_the_tables_scopes() -> None:
    assert Scopes().allows_endpoint("embeddings")
    only_chat = Scopes(endpoints=("chat",))
    assert only_chat.allows_endpoint("chat")
    assert not only_chat.allows_endpoint("messages") and not only_chat.allows_endpoint("embeddings")
    # A name the table does not know is never allowed by a key that lists its endpoints.
    assert not only_chat.allows_endpoint("moderations")
