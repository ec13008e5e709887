"""The first form of authentication: one master key, compared in constant time.

If neither ``MODELRAIL_MASTER_KEY`` nor the config sets one, ``serve`` generates a key on first
start and keeps it in the data directory, so modelrail never runs open by accident.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from modelrail.auth.principal import Principal
from modelrail.errors import AuthenticationFailed
from modelrail.private_files import private_dir

KEY_FILE = "master_key"
MASTER = Principal(key_id="master", name="master key", is_admin=True)


class MasterKeyAuthenticator:
    def __init__(self, master_key: str) -> None:
        if len(master_key) < 8:
            raise ValueError("the master key must be at least 8 characters")
        self._key = master_key.encode()

    async def authenticate(self, credential: str | None) -> Principal:
        if credential is None:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        if not hmac.compare_digest(credential.encode(), self._key):
            raise AuthenticationFailed("Incorrect API key provided.")
        return MASTER

    async def close(self) -> None:
        return None


def load_or_create_master_key(data_dir: Path) -> tuple[str, bool]:
    """The key kept in ``data_dir``, made on first use. Returns (key, created_now)."""
    path = data_dir / KEY_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key, False
    except FileNotFoundError:
        pass
    private_dir(data_dir)
    key = "mr-master-" + secrets.token_urlsafe(32)
    # O_EXCL: when two processes race on first start, one writes and both read its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip(), False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key, True
