"""KeyAuthenticator: principals from the store, the cache, and how fast changes reach other workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from modelrail.auth.key_auth import KeyAuthenticator
from modelrail.auth.key_secret import KeyHasher
from modelrail.errors import AuthenticationFailed, Overloaded
from modelrail.store.db import Database
from modelrail.store.keys import KeyStore
from modelrail.store.views import BudgetIn, KeyCreate, KeyUpdate, LimitsIn, TeamCreate
from tests.keys_support import MASTER_KEY, PEPPER, unique
from tests.secrets_registry import SecretsGuard


class CountingStore(KeyStore):
    def __init__(self, db: Database, hasher: KeyHasher) -> None:
        super().__init__(db, hasher)
        self.resolves = 0
        self.fail = False

    async def resolve(self, secret_hash: str):  # type: ignore[no-untyped-def]
        self.resolves += 1
        if self.fail:
            raise OSError("database down")
        return await super().resolve(secret_hash)

    async def generation(self) -> int:
        if self.fail:
            raise OSError("database down")
        return await super().generation()


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[CountingStore, CountingStore]]:
    """Two stores on one database, with their own engines: two workers, as far as the cache knows."""
    a = CountingStore(Database(db_url), KeyHasher(PEPPER))
    b = CountingStore(Database(db_url), KeyHasher(PEPPER))
    yield a, b
    await a.db.close()
    await b.db.close()


async def make_key(store: KeyStore, guard: SecretsGuard, **fields: object) -> tuple[str, str]:
    team = await store.create_team(
        TeamCreate(name=unique("team"), limits=LimitsIn(rpm=100, max_concurrency=3), budget=BudgetIn(usd=50)),
        actor="t",
    )
    spec = {"name": "k", "team": team.id, **fields}
    created = await store.create_key(KeyCreate.model_validate(spec), actor="t")
    return guard.add(created.secret), created.id


async def test_principal_carries_scopes_limits_and_budgets(stores, secrets_guard: SecretsGuard) -> None:
    store, _ = stores
    secret, key_id = await make_key(
        store,
        secrets_guard,
        models=["fake-*"],
        endpoints=["chat"],
        max_tokens=64,
        limits={"tpm": 1000},
        budget={"usd": 2, "period": "day"},
    )
    auth = KeyAuthenticator(store, poll_interval=0.05)
    try:
        p = await auth.authenticate(secret)
    finally:
        await auth.close()
    assert p.key_id == key_id and not p.is_admin and p.team_id is not None
    assert p.scopes.models == ("fake-*",) and p.scopes.endpoints == ("chat",) and p.scopes.max_tokens == 64
    assert p.key_limits.tpm == 1000 and p.key_limits.rpm is None
    assert p.team_limits.rpm == 100 and p.team_limits.max_concurrency == 3
    assert p.key_budget is not None and p.key_budget.usd == 2 and p.key_budget.period == "day"
    assert p.team_budget is not None and p.team_budget.usd == 50 and p.team_budget.period == "month"
    assert p.display == secret[:11] and secret not in repr(p)


async def test_master_key_and_refusals(stores) -> None:
    store, _ = stores
    auth = KeyAuthenticator(store, master_key=MASTER_KEY)
    try:
        assert (await auth.authenticate(MASTER_KEY)).is_admin
        for bad in (None, "", "sk-nope", "mr-" + "x" * 43):
            with pytest.raises(AuthenticationFailed) as exc:
                await auth.authenticate(bad)
            assert exc.value.status == 401
            assert bad is None or not bad or bad not in exc.value.message
    finally:
        await auth.close()


async def test_warm_cache_does_not_touch_the_database(stores, secrets_guard: SecretsGuard) -> None:
    store, _ = stores
    secret, _ = await make_key(store, secrets_guard)
    auth = KeyAuthenticator(store, poll_interval=0.05)
    try:
        await auth.authenticate(secret)
        for _ in range(1000):
            await auth.authenticate(secret)
        assert store.resolves == 1
        # Unknown keys are cached too, so guessing costs the database nothing.
        wrong = "mr-" + "y" * 43
        for _ in range(100):
            with pytest.raises(AuthenticationFailed):
                await auth.authenticate(wrong)
        assert store.resolves == 2
    finally:
        await auth.close()


async def test_negative_cache_is_bounded(stores) -> None:
    store, _ = stores
    auth = KeyAuthenticator(store, max_negative=10)
    try:
        for i in range(50):
            with pytest.raises(AuthenticationFailed):
                await auth.authenticate(f"mr-{i:043d}")
        assert len(auth._negative) == 10
    finally:
        await auth.close()


async def test_revocation_reaches_another_worker_within_a_second(stores, secrets_guard: SecretsGuard) -> None:
    admin_side, worker_side = stores
    secret, key_id = await make_key(admin_side, secrets_guard)
    worker = KeyAuthenticator(worker_side, poll_interval=0.25)
    try:
        await worker.authenticate(secret)  # now cached in the worker
        await asyncio.sleep(0.3)
        await admin_side.revoke_key(key_id, actor="t")
        revoked_at = time.monotonic()
        while True:
            try:
                await worker.authenticate(secret)
            except AuthenticationFailed as exc:
                assert "revoked" in exc.message
                break
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second after revocation"
            await asyncio.sleep(0.01)
    finally:
        await worker.close()


async def test_rotation_grace_then_refusal(stores, secrets_guard: SecretsGuard) -> None:
    store, _ = stores
    old, key_id = await make_key(store, secrets_guard)
    auth = KeyAuthenticator(store, poll_interval=0.05)
    try:
        await auth.authenticate(old)
        rotated = await store.rotate_key(key_id, grace_seconds=1, actor="t")
        new = secrets_guard.add(rotated.secret)
        await asyncio.sleep(0.1)
        assert (await auth.authenticate(old)).key_id == key_id, "the old secret works during the grace"
        assert (await auth.authenticate(new)).key_id == key_id
        await asyncio.sleep(1.0)
        with pytest.raises(AuthenticationFailed, match="rotated"):
            await auth.authenticate(old)
        assert (await auth.authenticate(new)).key_id == key_id
    finally:
        await auth.close()


async def test_expiry_needs_no_invalidation(stores, secrets_guard: SecretsGuard) -> None:
    store, _ = stores
    secret, key_id = await make_key(store, secrets_guard, expires_in_seconds=1)
    auth = KeyAuthenticator(store)
    try:
        await auth.authenticate(secret)
        await asyncio.sleep(1.05)
        with pytest.raises(AuthenticationFailed, match="expired"):
            await auth.authenticate(secret)
        assert store.resolves == 1, "refused from the cache, by the clock"
        past = datetime.now(UTC) - timedelta(days=1)
        await store.update_key(key_id, KeyUpdate(expires_at=past), actor="t")
        await asyncio.sleep(0.4)
        with pytest.raises(AuthenticationFailed, match="expired"):
            await auth.authenticate(secret)
    finally:
        await auth.close()


async def test_changes_to_scopes_reach_the_cache(stores, secrets_guard: SecretsGuard) -> None:
    store, other = stores
    secret, key_id = await make_key(store, secrets_guard, models=["a"])
    auth = KeyAuthenticator(other, poll_interval=0.05)
    try:
        assert (await auth.authenticate(secret)).scopes.models == ("a",)
        await store.update_key(key_id, KeyUpdate(models=["b"]), actor="t")
        await asyncio.sleep(0.4)
        assert (await auth.authenticate(secret)).scopes.models == ("b",)
    finally:
        await auth.close()


async def test_database_outage(stores, secrets_guard: SecretsGuard) -> None:
    store, _ = stores
    secret, _ = await make_key(store, secrets_guard)
    auth = KeyAuthenticator(store, poll_interval=0.05, max_staleness=0.1)
    try:
        await auth.authenticate(secret)
        store.fail = True
        await asyncio.sleep(0.3)
        # A known key keeps working from the cache; an unknown one gets a 503, not a 401.
        assert (await auth.authenticate(secret)).display == secret[:11]
        with pytest.raises(Overloaded):
            await auth.authenticate("mr-" + "z" * 43)
        store.fail = False
    finally:
        await auth.close()


async def test_last_used_is_flushed_on_close(stores, secrets_guard: SecretsGuard) -> None:
    store, _ = stores
    secret, key_id = await make_key(store, secrets_guard)
    auth = KeyAuthenticator(store, touch_interval=60)
    await auth.authenticate(secret)
    assert (await store.get_key(key_id)).last_used_at is None, "not written on the hot path"
    await auth.close()
    used = (await store.get_key(key_id)).last_used_at
    assert used is not None and abs((datetime.now(UTC) - used).total_seconds()) < 5
