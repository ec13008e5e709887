"""A guard over the whole test session: no secret may reach a log line.

What it looks for: every API key secret a test registers (``secrets_guard.add``), the suite's
master keys, upstream provider keys and pepper (``KNOWN_SECRETS``), and any string shaped like a
modelrail key secret or a provider key (``SECRET_SHAPES``). Where it looks: every log record of the
session (root and ``modelrail`` loggers, debug level included), the output of every subprocess
server the session started (``modelrail-server-*.log`` in the temporary folder), and any text a
test hands it (``add_text``). A hit fails the session.

The guard is the session-scoped, autouse ``secrets_guard`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# Secrets the suite's own configs use (master keys, upstream keys, the pepper).
KNOWN_SECRETS = (
    "mr-test-master-key-0123456789",
    "mr-test-master-key-keys-0123456789",
    "mr-test-server-key-0123456789",
    "sk-upstream-secret-9876",
    "test-pepper-0123456789abcdef",
)
# What a secret looks like: a modelrail key (``mr-`` and 43 URL-safe characters), a generated
# master key, an OpenAI-style or Anthropic-style provider key.
SECRET_SHAPES = re.compile(
    r"\bmr-(?:master-)?[A-Za-z0-9_-]{40,}|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}",
)


class SecretsGuard(logging.Handler):
    def __init__(self, known: tuple[str, ...] = KNOWN_SECRETS) -> None:
        super().__init__(level=logging.DEBUG)
        self.secrets: set[str] = set(known)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string must not hide the record's args
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        self.texts.append(text)

    def add(self, secret: str) -> str:
        self.secrets.add(secret)
        return secret

    def add_text(self, text: str) -> None:
        self.texts.append(text)

    def leaks(self) -> list[str]:
        found = {s[:6] + "..." for s in self.secrets if any(s in t for t in self.texts)}
        for text in self.texts:
            found.update(m[:6] + "..." for m in SECRET_SHAPES.findall(text))
        return sorted(found)


def server_logs_since(started: float) -> list[str]:
    """The output of subprocess servers (``modelrail.testing.servers``) written since ``started``."""
    out = []
    for path in Path(tempfile.gettempdir()).glob("modelrail-server-*.log"):
        try:
            if path.stat().st_mtime >= started:
                out.append(path.read_text(errors="replace"))
        except OSError:
            continue
    return out


def guard_session() -> Iterator[SecretsGuard]:
    """The body of the session-scoped ``secrets_guard`` fixture."""
    started = time.time()
    guard = SecretsGuard()
    watched = [logging.getLogger(), logging.getLogger("modelrail")]
    modelrail = logging.getLogger("modelrail")
    old_level = modelrail.level
    # Records below a logger's level never reach a handler: let modelrail's debug lines through.
    modelrail.setLevel(logging.DEBUG)
    for logger in watched:
        logger.addHandler(guard)
    try:
        yield guard
    finally:
        for logger in watched:
            logger.removeHandler(guard)
        modelrail.setLevel(old_level)
    for text in server_logs_since(started):
        guard.add_text(text)
    leaked = guard.leaks()
    assert not leaked, f"secrets found in logs: {leaked}"
