"""API key secrets: made with 256 bits of randomness, stored only as a keyed hash.

The hash is HMAC-SHA256 under a server-side pepper, so a stolen database alone does not let anyone
test guessed keys. Lookups are by hash, an indexed equality match: the time taken does not depend on
how much of a guess is right.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from pathlib import Path

from modelrail.private_files import private_dir

PREFIX = "mr-"
PEPPER_FILE = "key_pepper"
PEPPER_ENV = "MODELRAIL_KEY_PEPPER"
_DISPLAY_CHARS = 8


def new_secret() -> str:
    # token_urlsafe(32): 32 random bytes, 256 bits.
    return PREFIX + secrets.token_urlsafe(32)


def display_of(secret: str) -> str:
    """The short, non-secret name of a secret: ``mr-`` and its next 8 characters."""
    return secret[: len(PREFIX) + _DISPLAY_CHARS]


def looks_like_key(credential: str) -> bool:
    return credential.startswith(PREFIX) and len(credential) >= len(PREFIX) + 32


class KeyHasher:
    def __init__(self, pepper: str) -> None:
        if len(pepper) < 16:
            raise ValueError("the key pepper must be at least 16 characters")
        self._pepper = pepper.encode()

    def hash(self, secret: str) -> str:
        return hmac.digest(self._pepper, secret.encode(), "sha256").hex()


def load_or_create_pepper(data_dir: Path, configured: str | None = None) -> str:
    """The pepper from config, else ``MODELRAIL_KEY_PEPPER``, else a file in ``data_dir`` made on
    first use. Every worker and replica sharing one database must use the same pepper."""
    if configured:
        return configured
    env = os.environ.get(PEPPER_ENV)
    if env:
        return env
    path = data_dir / PEPPER_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    private_dir(data_dir)
    value = secrets.token_urlsafe(32)
    # O_EXCL: when two workers race on first start, one writes and both read its pepper.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def _read_when_written(path: Path, timeout: float = 2.0) -> str:
    """Another worker created the file a moment ago and may not have written it yet."""
    deadline = time.monotonic() + timeout
    while True:
        value = path.read_text(encoding="utf-8").strip()
        if value or time.monotonic() > deadline:
            if not value:
                raise RuntimeError(f"{path} is empty; delete it to make a new pepper")
            return value
        time.sleep(0.01)
