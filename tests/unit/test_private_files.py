"""The data dir and everything secret in it can be read by the server's own user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelrail.app import create_app
from modelrail.private_files import private_dir, private_sqlite
from modelrail.settings import ConfigError, settings_from_dict
from tests.conftest import AUTH, running


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_served_app_keeps_its_files_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would make 0755 folders and 0644 files
    try:
        data = tmp_path / "fresh" / "data"
        models = [{"name": "fake-chat", "provider": "fake", "reply": "hello"}]
        settings = settings_from_dict({"data_dir": str(data), "models": models, "ledger": {"enabled": True}}, env={})
        app = create_app(settings)
        async with running(app) as client:
            master = (data / "master_key").read_text().strip()
            r = await client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {master}"},
                json={"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 200
    finally:
        os.umask(old)
    assert mode(data) == 0o700
    assert mode(data.parent) == 0o700  # made by modelrail too
    secrets = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "master_key" for p in secrets)
    assert any(p.suffix == ".db" for p in secrets)
    for p in secrets:
        assert mode(p) == 0o600, p
    for d in (p for p in data.rglob("*") if p.is_dir()):
        assert mode(d) == 0o700, d


def test_existing_folders_are_left_alone_and_files_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    db = shared / "store.db"
    db.write_text("")
    os.chmod(db, 0o644)
    wal = shared / "store.db-wal"
    wal.write_text("")
    os.chmod(wal, 0o644)
    private_sqlite(str(db))
    assert mode(shared) == 0o755
    assert mode(db) == 0o600
    assert mode(wal) == 0o600
    made = private_dir(tmp_path / "a" / "b")
    assert mode(made) == 0o700 and mode(made.parent) == 0o700


@pytest.mark.parametrize("key", ["short", "x" * 23])
def test_a_short_master_key_is_refused(key: str) -> None:
    with pytest.raises(ConfigError, match="at least 24 characters"):
        settings_from_dict({"auth": {"master_key": key}}, env={})
    with pytest.raises(ConfigError, match="MODELRAIL_MASTER_KEY"):
        settings_from_dict({}, env={"MODELRAIL_MASTER_KEY": key})


def test_an_unset_master_key_is_not_refused() -> None:
    assert settings_from_dict({"auth": {"master_key": ""}}, env={}).auth.master_key == ""
    settings_from_dict({"auth": {"master_key": AUTH["authorization"].removeprefix("Bearer ")}}, env={})
