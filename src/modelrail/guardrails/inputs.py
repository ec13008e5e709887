"""What a request may carry upstream: no routing fields, and no URL the operator did not allow.

Two defences against a client steering modelrail or its upstream (server-side request forgery):

- **Blocked fields**: fields that name an address, a key or headers (``api_base``, ``base_url``,
  ``api_key``, ``headers``, ...) never pass through to an upstream, whatever the provider does with
  unknown fields (a chained gateway may honour ``api_base``). They are removed from the body.
- **Media URLs**: an image or document input may name a URL, which the upstream (a self-hosted
  vLLM, say) then fetches from inside the operator's network. By default only ``data:`` URLs are
  accepted; ``inputs.allowed_url_hosts`` lists hosts whose ``https`` URLs may pass, and
  ``inputs.remote_urls: allow`` lets any public ``https`` URL through. A URL whose host is an IP
  literal in a private, loopback or link-local range (a cloud metadata address) is refused in
  every mode.

The walk looks only at list-shaped content (where media parts live), part by part, so its cost is
linear in the number of content parts and nothing for plain-text messages.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from modelrail.errors import InvalidRequest

# Body fields that would let a client pick where or how modelrail's upstream call goes.
BLOCKED_FIELDS = frozenset(
    {
        "api_base",
        "api_key",
        "api_version",
        "base_url",
        "headers",
        "extra_headers",
        "extra_query",
        "custom_llm_provider",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
        "azure_ad_token",
        "organization",
    }
)


class InputSettings(BaseModel):
    """The ``inputs:`` config section."""

    model_config = ConfigDict(extra="forbid")
    # deny: only data: URLs in image and document inputs (and the hosts below); allow: any public
    # https URL.
    remote_urls: Literal["deny", "allow"] = "deny"
    allowed_url_hosts: list[str] = Field(default_factory=list)
    # More body fields to remove before a request goes upstream, beside the built-in list.
    blocked_fields: list[str] = Field(default_factory=list)


class InputGuard:
    """Built once at start-up from :class:`InputSettings`; :meth:`check` runs per request."""

    def __init__(self, settings: InputSettings) -> None:
        self.allow_any = settings.remote_urls == "allow"
        self.hosts = frozenset(h.lower().rstrip(".") for h in settings.allowed_url_hosts)
        self.blocked = BLOCKED_FIELDS | frozenset(settings.blocked_fields)

    def check(self, body: dict[str, Any]) -> None:
        """Remove blocked fields from ``body``; refuse a media URL that is not allowed (400)."""
        if not self.blocked.isdisjoint(body):
            for name in self.blocked.intersection(body):
                del body[name]
        messages = body.get("messages")
        if isinstance(messages, list):
            for i, message in enumerate(messages):
                if isinstance(message, dict):
                    content = message.get("content")
                    if isinstance(content, list):
                        self._parts(content, f"messages[{i}].content")

    def _parts(self, parts: Iterable[Any], where: str) -> None:
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                self._url(url, f"{where}[{j}].image_url.url")
            elif kind in ("image", "document"):
                source = part.get("source")
                if isinstance(source, dict) and source.get("type") == "url":
                    self._url(source.get("url"), f"{where}[{j}].source.url")
            elif kind == "file":
                file = part.get("file")
                if isinstance(file, dict) and isinstance(file.get("file_url"), str):
                    self._url(file["file_url"], f"{where}[{j}].file.file_url")
            elif kind == "tool_result":
                inner = part.get("content")
                if isinstance(inner, list):
                    self._parts(inner, f"{where}[{j}].content")

    def _url(self, url: Any, where: str) -> None:
        if not isinstance(url, str):
            return  # the wire model's own validation answers for the shape
        if url[:5].lower() == "data:":
            return
        refusal = self._refusal(url)
        if refusal is not None:
            raise InvalidRequest(f"{where}: {refusal}", param=where, code="url_not_allowed")

    def _refusal(self, url: str) -> str | None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            return "not a valid URL."
        if parts.scheme.lower() != "https" or not host:
            return "only data: URLs or https URLs of allowed hosts are accepted here."
        if _internal_address(host):
            return "URLs that name a private, loopback or link-local address are not accepted."
        if self.allow_any or host in self.hosts:
            return None
        return (
            "remote URLs are not accepted here: send the content as a data: URL "
            "(or ask the operator to allow this host in inputs.allowed_url_hosts)."
        )


def _internal_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost" or host.endswith(".localhost") or host.endswith(".internal")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global
