"""Secrets taken out of text that came from elsewhere, before a client or a log sees it.

An upstream's error body is shown to the client (it says what went wrong), but an upstream, a
proxy in front of it, or a misconfigured server may echo the request's headers in it, and with
them the provider key modelrail sent. :class:`SecretScrubber` replaces the literal secrets it is
given (each deployment's own key, found with one regex built at start-up) and anything shaped like
a credential: ``Bearer``/``Basic`` tokens, provider keys (``sk-...``, ``sk-ant-...``, Google's
``AIza...``, AWS access key ids), ``api-key``/``x-api-key`` header echoes and modelrail's own
``mr-`` secrets. The patterns are bounded and linear; the text is cut to ``max_chars`` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

_SHAPES = re.compile(
    r"(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"
    r"|\bAIza[0-9A-Za-z_-]{30,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bmr-[A-Za-z0-9_-]{24,}"
    r"|(?i:\b(?:x-)?api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{6,}"
)


class SecretScrubber:
    def __init__(self, secrets: Iterable[str] = (), max_chars: int = 4000) -> None:
        # Only secrets long enough to be secrets: a two-letter "key" would blank ordinary words.
        literal = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        self._literal = re.compile("|".join(map(re.escape, literal))) if literal else None
        self.max_chars = max_chars

    def __call__(self, text: str) -> str:
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + "..."
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        return _SHAPES.sub(_keep_label, text)


def _keep_label(match: re.Match[str]) -> str:
    """``Bearer sk-...`` becomes ``Bearer [redacted]``: the reader still sees what was there."""
    found = match.group(0)
    for label in ("bearer ", "basic "):
        if found[: len(label)].lower() == label:
            return found[: len(label)] + REDACTED
    head = re.match(r"(?i)(?:x-)?api-key[\"']?\s*[:=]\s*[\"']?", found)
    return (head.group(0) if head else "") + REDACTED
