"""Teams, keys and the audit log in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelrail.auth.key_secret import KeyHasher, display_of
from modelrail.errors import Conflict, InvalidRequest, NotFound
from modelrail.store.db import Database
from modelrail.store.keys import KeyStore
from modelrail.store.views import BudgetIn, KeyCreate, KeyUpdate, LimitsIn, TeamCreate, TeamUpdate
from tests.keys_support import PEPPER, unique
from tests.secrets_registry import SecretsGuard


@pytest.fixture
async def store(db_url: str) -> KeyStore:
    s = KeyStore(Database(db_url), KeyHasher(PEPPER))
    yield s  # type: ignore[misc]
    await s.db.close()


async def test_team_crud_and_audit(store: KeyStore) -> None:
    name = unique("acme")
    team = await store.create_team(
        TeamCreate(
            name=name,
            metadata={"owner": "ops"},
            limits=LimitsIn(rpm=60, tpm=10_000, max_concurrency=4),
            budget=BudgetIn(usd=25, period="day", alert_thresholds=[0.9, 0.5]),
        ),
        actor="tester",
    )
    assert team.limits.rpm == 60 and team.budget is not None and team.budget.alert_thresholds == [0.5, 0.9]
    assert (await store.get_team(name)).id == team.id
    assert (await store.get_team(team.id)).name == name
    assert team.id in {t.id for t in await store.list_teams()}

    with pytest.raises(Conflict):
        await store.create_team(TeamCreate(name=name), actor="tester")

    updated = await store.update_team(team.id, TeamUpdate(limits=LimitsIn(rpm=120), budget=None), actor="tester")
    assert updated.limits.rpm == 120 and updated.limits.tpm == 10_000, "a partial limits patch keeps the rest"
    assert updated.budget is None

    await store.delete_team(team.id, actor="tester")
    with pytest.raises(NotFound):
        await store.get_team(team.id)
    actions = [e.action for e in await store.audit(target_type="team", target_id=team.id)]
    assert actions == ["team.delete", "team.update", "team.create"]
    assert all(e.actor == "tester" for e in await store.audit(target_id=team.id))


async def test_key_life_cycle(store: KeyStore, secrets_guard: SecretsGuard) -> None:
    team = await store.create_team(TeamCreate(name=unique("team")), actor="tester")
    created = await store.create_key(
        KeyCreate(
            name="ci",
            team=team.name,
            env="prod",
            models=["gpt-4o-mini", "smollm2-*"],
            endpoints=["chat"],
            max_tokens=256,
            expires_in_seconds=30 * 86400,
            limits=LimitsIn(rpm=10),
            budget=BudgetIn(usd=1.5),
        ),
        actor="tester",
    )
    secret = secrets_guard.add(created.secret)
    assert secret.startswith("mr-") and len(secret) == 3 + 43  # 32 random bytes, urlsafe base64
    assert created.display == display_of(secret) and created.status == "active" and created.team == team.name
    assert created.expires_at is not None and created.expires_at > datetime.now(UTC) + timedelta(days=29)

    resolved = await store.resolve(store.hasher.hash(secret))
    assert resolved is not None and resolved.key.id == created.id and resolved.team is not None
    assert await store.resolve(store.hasher.hash(secret + "x")) is None

    listed = await store.list_keys(team=team.id)
    assert [k.id for k in listed] == [created.id]
    assert secret not in listed[0].model_dump_json(), "a listing never carries the secret"
    assert (await store.get_key(created.display)).id == created.id

    rotated = await store.rotate_key(created.id, grace_seconds=60, actor="tester")
    new_secret = secrets_guard.add(rotated.secret)
    assert new_secret != secret and rotated.id == created.id and rotated.display == display_of(new_secret)
    old = await store.resolve(store.hasher.hash(secret))
    assert old is not None and old.valid_until is not None
    new = await store.resolve(store.hasher.hash(new_secret))
    assert new is not None and new.valid_until is None
    # The old display still names the key, for operators reading old logs.
    assert (await store.get_key(created.display)).id == created.id

    before = await store.generation()
    revoked = await store.revoke_key(created.id, actor="tester")
    assert revoked.status == "revoked" and revoked.revoked_at is not None
    assert await store.generation() > before, "a revocation moves the generation that workers poll"
    assert [k.id for k in await store.list_keys(team=team.id, status="revoked")] == [created.id]
    with pytest.raises(InvalidRequest):
        await store.rotate_key(created.id, grace_seconds=0, actor="tester")

    with pytest.raises(Conflict):
        await store.delete_team(team.id, actor="tester")

    actions = [e.action for e in await store.audit(target_type="key", target_id=created.id)]
    assert actions == ["key.revoke", "key.rotate", "key.create"]
    for event in await store.audit(target_id=created.id):
        assert secret not in str(event.details) and new_secret not in str(event.details)


async def test_expiry_and_updates(store: KeyStore, secrets_guard: SecretsGuard) -> None:
    team = await store.create_team(TeamCreate(name=unique("team")), actor="tester")
    key = await store.create_key(KeyCreate(name="k", team=team.id), actor="tester")
    secrets_guard.add(key.secret)
    past = datetime.now(UTC) - timedelta(seconds=1)
    view = await store.update_key(key.id, KeyUpdate(expires_at=past, models=["a-*"], max_tokens=5), actor="t")
    assert view.status == "expired" and view.models == ["a-*"] and view.max_tokens == 5
    assert [k.id for k in await store.list_keys(team=team.id, status="expired")] == [key.id]
    view = await store.update_key(key.id, KeyUpdate(expires_at=None, max_tokens=None), actor="t")
    assert view.status == "active" and view.max_tokens is None and view.models == ["a-*"]


async def test_bad_requests(store: KeyStore) -> None:
    with pytest.raises(InvalidRequest):
        await store.create_key(KeyCreate(name="orphan"), actor="t")
    with pytest.raises(NotFound):
        await store.create_key(KeyCreate(name="k", team="no-such-team"), actor="t")
    with pytest.raises(NotFound):
        await store.revoke_key("key_missing", actor="t")
    with pytest.raises(InvalidRequest):
        await store.create_key(
            KeyCreate(name="k", kind="admin", expires_in_seconds=5, expires_at=datetime.now(UTC)), actor="t"
        )


async def test_admin_keys_need_no_team(store: KeyStore, secrets_guard: SecretsGuard) -> None:
    key = await store.create_key(KeyCreate(name="ops", kind="admin"), actor="t")
    secrets_guard.add(key.secret)
    assert key.kind == "admin" and key.team_id is None


async def test_last_used_is_written_in_batches(store: KeyStore, secrets_guard: SecretsGuard) -> None:
    team = await store.create_team(TeamCreate(name=unique("team")), actor="t")
    key = await store.create_key(KeyCreate(name="k", team=team.id), actor="t")
    secrets_guard.add(key.secret)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await store.touch({key.id: at})
    assert (await store.get_key(key.id)).last_used_at == at


def test_pepper_is_kept_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelrail.auth.key_secret import PEPPER_ENV, load_or_create_pepper

    monkeypatch.delenv(PEPPER_ENV, raising=False)
    first = load_or_create_pepper(tmp_path)
    assert len(first) >= 32 and load_or_create_pepper(tmp_path) == first
    assert (tmp_path / "key_pepper").stat().st_mode & 0o077 == 0
    assert load_or_create_pepper(tmp_path, "configured-pepper-value") == "configured-pepper-value"
    monkeypatch.setenv(PEPPER_ENV, "env-pepper-value-0123456789")
    assert load_or_create_pepper(tmp_path) == "env-pepper-value-0123456789"


def test_hash_depends_on_the_pepper() -> None:
    a, b = KeyHasher("pepper-one-0123456789"), KeyHasher("pepper-two-0123456789")
    assert a.hash("mr-x") != b.hash("mr-x") and a.hash("mr-x") == a.hash("mr-x") and len(a.hash("mr-x")) == 64


def test_the_secrets_guard_finds_a_leak() -> None:
    import logging

    guard = SecretsGuard()
    log = logging.getLogger("modelrail.test-guard")
    log.addHandler(guard)
    try:
        guard.add("mr-pretend-secret-0123456789")
        log.warning("nothing to see")
        assert guard.leaks() == []
        log.warning("key=%s", "mr-pretend-secret-0123456789")
        assert guard.leaks() == ["mr-pre..."]
    finally:
        log.removeHandler(guard)


async def test_no_migration_when_turned_off(tmp_path: Path) -> None:
    from modelrail.store.migrate import current_revision

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}", migrate=False)
    try:
        await db.ready()
        assert await current_revision(db.engine) is None
    finally:
        await db.close()
