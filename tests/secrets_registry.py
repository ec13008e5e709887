"""Every API key secret the key tests create is registered here; at the end of the session the
log lines captured meanwhile (in-process records and subprocess servers' output) are searched
for each of them, and any hit fails the run.

Use the session-scoped ``secrets_guard`` fixture (defined on ``guard_session``): ``.add(secret)`` for each new
secret, ``.add_text(output)`` for a subprocess server's output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator


class SecretsGuard(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.secrets: set[str] = set()
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
        return [s[:6] + "..." for s in self.secrets if any(s in t for t in self.texts)]


def guard_session() -> Iterator[SecretsGuard]:
    """The body of a session-scoped ``secrets_guard`` fixture (each key test package defines one)."""
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
    leaked = guard.leaks()
    assert not leaked, f"secrets found in logs: {leaked}"
