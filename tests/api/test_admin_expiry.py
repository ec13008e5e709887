"""An admin key that expires cannot make, or stretch, an admin key that outlives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.keys_support import MASTER_KEY, bearer, key_app, running
from tests.secrets_registry import SecretsGuard

ADMIN = bearer(MASTER_KEY)


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(key_app(db_url, tmp_path)) as c:
        yield c


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def test_expiring_admins_make_no_longer_lived_admins(client: httpx.AsyncClient, secrets_guard: SecretsGuard):
    soon = datetime.now(UTC) + timedelta(days=1)
    r = await client.post(
        "/admin/v1/keys", json={"name": "temp-admin", "kind": "admin", "expires_at": iso(soon)}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    temp = bearer(secrets_guard.add(r.json()["secret"]))

    forever = await client.post("/admin/v1/keys", json={"name": "x", "kind": "admin"}, headers=temp)
    assert forever.status_code == 403
    assert forever.json()["error"]["param"] == "expires_at"
    later = iso(soon + timedelta(days=30))
    assert (
        await client.post("/admin/v1/keys", json={"name": "x", "kind": "admin", "expires_at": later}, headers=temp)
    ).status_code == 403
    stretched = {"name": "x", "kind": "admin", "expires_in_seconds": 3 * 86400}
    assert (await client.post("/admin/v1/keys", json=stretched, headers=temp)).status_code == 403

    ok = await client.post(
        "/admin/v1/keys", json={"name": "y", "kind": "admin", "expires_in_seconds": 3600}, headers=temp
    )
    assert ok.status_code == 201, ok.text
    secrets_guard.add(ok.json()["secret"])
    own_id = ok.json()["id"]
    # Nor may it lift the expiry of an admin key afterwards, its own included.
    assert (await client.patch(f"/admin/v1/keys/{own_id}", json={"expires_at": None}, headers=temp)).status_code == 403
    # The master key never expires: it may.
    assert (await client.patch(f"/admin/v1/keys/{own_id}", json={"expires_at": None}, headers=ADMIN)).status_code == 200
