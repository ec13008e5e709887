"""Teams, keys and the audit log in the database: every change bumps the auth generation and is
audited in the same transaction, so workers see it and nobody can change a key unrecorded."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from modelrail.auth.key_secret import KeyHasher, display_of, new_secret
from modelrail.errors import Conflict, InvalidRequest, NotFound
from modelrail.limits.schema import NAMES, values_of
from modelrail.store.db import Database
from modelrail.store.models import ApiKey, AuditEvent, KeySecret, LimitsColumns, StoreGeneration, Team, utcnow
from modelrail.store.views import (
    AuditView,
    BudgetIn,
    KeyCreate,
    KeyCreated,
    KeyStatus,
    KeyUpdate,
    KeyView,
    LimitsIn,
    TeamCreate,
    TeamUpdate,
    TeamView,
)

GENERATION = "auth"


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """What the authenticator needs about one secret: its key, the key's team, the secret's grace end."""

    key: ApiKey
    team: Team | None
    display: str
    valid_until: datetime | None


class KeyStore:
    def __init__(self, db: Database, hasher: KeyHasher) -> None:
        self.db = db
        self.hasher = hasher
        # Called after each committed change, so this process's auth cache need not wait for its poll.
        self.listeners: list[Callable[[], None]] = []

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction; listeners hear of the change once it is committed."""
        async with self.db.session() as s, s.begin():
            yield s
        for listener in self.listeners:
            listener()

    # -- hot-path support (cache misses and the cache's poll) --------------------------------

    async def resolve(self, secret_hash: str) -> ResolvedKey | None:
        await self.db.ready()
        async with self.db.session() as s:
            row = (
                await s.execute(
                    select(KeySecret, ApiKey, Team)
                    .join(ApiKey, ApiKey.id == KeySecret.key_id)
                    .outerjoin(Team, Team.id == ApiKey.team_id)
                    .where(KeySecret.secret_hash == secret_hash)
                )
            ).first()
        if row is None:
            return None
        secret, key, team = row
        return ResolvedKey(key=key, team=team, display=secret.display, valid_until=secret.valid_until)

    async def generation(self) -> int:
        await self.db.ready()
        async with self.db.session() as s:
            value = await s.scalar(select(StoreGeneration.value).where(StoreGeneration.name == GENERATION))
        return int(value or 0)

    async def touch(self, last_used: dict[str, datetime]) -> None:
        """Record when keys were last used (batched by the authenticator; no generation bump)."""
        if not last_used:
            return
        await self.db.ready()
        async with self.db.session() as s, s.begin():
            for key_id, at in last_used.items():
                await s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))

    # -- teams ----------------------------------------------------------------------------

    async def create_team(self, spec: TeamCreate, *, actor: str) -> TeamView:
        await self.db.ready()
        now = utcnow()
        team = Team(id="team_" + secrets.token_hex(8), name=spec.name, meta=spec.metadata, created_at=now)
        team.updated_at = now
        _set_limits(team, spec.limits, spec.budget)
        try:
            async with self._write() as s:
                s.add(team)
                await s.flush()
                await self._changed(s, actor, "team.create", ("team", team.id), {"name": spec.name})
        except IntegrityError:
            raise Conflict(f"A team named '{spec.name}' already exists.", param="name") from None
        return team_view(team)

    async def list_teams(self) -> list[TeamView]:
        await self.db.ready()
        async with self.db.session() as s:
            teams = (await s.scalars(select(Team).order_by(Team.created_at, Team.id))).all()
        return [team_view(t) for t in teams]

    async def get_team(self, ref: str) -> TeamView:
        await self.db.ready()
        async with self.db.session() as s:
            return team_view(await _team(s, ref))

    async def update_team(self, ref: str, patch: TeamUpdate, *, actor: str) -> TeamView:
        await self.db.ready()
        fields = patch.model_fields_set
        try:
            async with self._write() as s:
                team = await _team(s, ref)
                if patch.name is not None:
                    team.name = patch.name
                if patch.metadata is not None:
                    team.meta = patch.metadata
                _patch_limits(team, patch.limits, patch.budget, "budget" in fields)
                team.updated_at = utcnow()
                changed = sorted(fields)
                await self._changed(s, actor, "team.update", ("team", team.id), {"fields": changed})
        except IntegrityError:
            raise Conflict(f"A team named '{patch.name}' already exists.", param="name") from None
        return team_view(team)

    async def delete_team(self, ref: str, *, actor: str) -> None:
        await self.db.ready()
        async with self._write() as s:
            team = await _team(s, ref)
            count = await s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.team_id == team.id))
            if count:
                raise Conflict(f"Team '{team.name}' still has {count} key(s); revoke and delete them first.")
            await s.delete(team)
            await self._changed(s, actor, "team.delete", ("team", team.id), {"name": team.name})

    # -- keys -----------------------------------------------------------------------------

    async def create_key(self, spec: KeyCreate, *, actor: str) -> KeyCreated:
        await self.db.ready()
        now = utcnow()
        expires_at = spec.expires_at
        if spec.expires_in_seconds is not None:
            if expires_at is not None:
                raise InvalidRequest("Give expires_at or expires_in_seconds, not both.", param="expires_at")
            expires_at = now + timedelta(seconds=spec.expires_in_seconds)
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidRequest("expires_at needs a time zone (e.g. a trailing 'Z').", param="expires_at")
        secret = new_secret()
        display = display_of(secret)
        async with self._write() as s:
            team = await _team(s, spec.team) if spec.team else None
            if team is None and spec.kind == "regular":
                raise InvalidRequest("A regular key belongs to a team: give 'team'.", param="team")
            key = ApiKey(
                id="key_" + secrets.token_hex(8),
                team_id=team.id if team else None,
                name=spec.name,
                kind=spec.kind,
                env=spec.env,
                status="active",
                display=display,
                models=list(spec.models),
                endpoints=list(spec.endpoints),
                max_tokens=spec.max_tokens,
                meta=spec.metadata,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
                created_by=actor,
            )
            _set_limits(key, spec.limits, spec.budget)
            s.add(key)
            await s.flush()
            s.add(KeySecret(secret_hash=self.hasher.hash(secret), key_id=key.id, display=display, created_at=now))
            details = {"name": spec.name, "display": display, "kind": spec.kind, "team": team.name if team else None}
            await self._changed(s, actor, "key.create", ("key", key.id), details)
        return KeyCreated(**key_view(key, team).model_dump(), secret=secret)

    async def list_keys(self, *, team: str | None = None, status: KeyStatus | None = None) -> list[KeyView]:
        await self.db.ready()
        async with self.db.session() as s:
            query = select(ApiKey, Team).outerjoin(Team, Team.id == ApiKey.team_id)
            if team is not None:
                query = query.where(ApiKey.team_id == (await _team(s, team)).id)
            rows = (await s.execute(query.order_by(ApiKey.created_at, ApiKey.id))).all()
        views = [key_view(k, t) for k, t in rows]
        return [v for v in views if status is None or v.status == status]

    async def get_key(self, ref: str) -> KeyView:
        await self.db.ready()
        async with self.db.session() as s:
            key = await _key(s, ref)
            return key_view(key, await _team_of(s, key))

    async def update_key(self, ref: str, patch: KeyUpdate, *, actor: str) -> KeyView:
        await self.db.ready()
        fields = patch.model_fields_set
        async with self._write() as s:
            key = await _key(s, ref)
            for name in ("name", "env", "models", "endpoints"):
                value = getattr(patch, name)
                if value is not None:
                    setattr(key, name, list(value) if isinstance(value, list) else value)
            if patch.metadata is not None:
                key.meta = patch.metadata
            if "max_tokens" in fields:
                key.max_tokens = patch.max_tokens
            if "expires_at" in fields:
                if patch.expires_at is not None and patch.expires_at.tzinfo is None:
                    raise InvalidRequest("expires_at needs a time zone (e.g. a trailing 'Z').", param="expires_at")
                key.expires_at = patch.expires_at
            _patch_limits(key, patch.limits, patch.budget, "budget" in fields)
            key.updated_at = utcnow()
            await self._changed(s, actor, "key.update", ("key", key.id), {"fields": sorted(fields)})
            team = await _team_of(s, key)
        return key_view(key, team)

    async def revoke_key(self, ref: str, *, actor: str) -> KeyView:
        await self.db.ready()
        async with self._write() as s:
            key = await _key(s, ref)
            if key.status != "revoked":
                now = utcnow()
                key.status, key.revoked_at, key.updated_at = "revoked", now, now
                await self._changed(s, actor, "key.revoke", ("key", key.id), {"display": key.display})
            team = await _team_of(s, key)
        return key_view(key, team)

    async def rotate_key(self, ref: str, *, grace_seconds: int, actor: str) -> KeyCreated:
        """Give the key a new secret. Its current secrets keep working for ``grace_seconds`` more."""
        await self.db.ready()
        now = utcnow()
        until = now + timedelta(seconds=grace_seconds)
        secret = new_secret()
        display = display_of(secret)
        async with self._write() as s:
            key = await _key(s, ref)
            if key.status == "revoked":
                raise InvalidRequest(f"Key {key.id} is revoked; create a new key instead.")
            # Shorten, never lengthen, the grace of secrets already rotated out.
            await s.execute(
                update(KeySecret)
                .where(KeySecret.key_id == key.id)
                .where(or_(KeySecret.valid_until.is_(None), KeySecret.valid_until > until))
                .values(valid_until=until)
            )
            s.add(KeySecret(secret_hash=self.hasher.hash(secret), key_id=key.id, display=display, created_at=now))
            old = key.display
            key.display, key.updated_at = display, now
            details = {"display": display, "previous": old, "grace_seconds": grace_seconds}
            await self._changed(s, actor, "key.rotate", ("key", key.id), details)
            team = await _team_of(s, key)
        view = key_view(key, team)
        return KeyCreated(**view.model_dump(), secret=secret, previous_valid_until=until)

    # -- audit ----------------------------------------------------------------------------

    async def audit(
        self, *, target_type: str | None = None, target_id: str | None = None, limit: int = 100
    ) -> list[AuditView]:
        await self.db.ready()
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if target_type is not None:
            query = query.where(AuditEvent.target_type == target_type)
        if target_id is not None:
            query = query.where(AuditEvent.target_id == target_id)
        async with self.db.session() as s:
            events = (await s.scalars(query)).all()
        return [
            AuditView(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                details=e.details,
            )
            for e in events
        ]

    async def _changed(
        self, s: AsyncSession, actor: str, action: str, target: tuple[str, str], details: dict[str, Any]
    ) -> None:
        s.add(
            AuditEvent(
                at=utcnow(), actor=actor, action=action, target_type=target[0], target_id=target[1], details=details
            )
        )
        await s.execute(
            update(StoreGeneration).where(StoreGeneration.name == GENERATION).values(value=StoreGeneration.value + 1)
        )


async def _team(s: AsyncSession, ref: str) -> Team:
    team = await s.scalar(select(Team).where(or_(Team.id == ref, Team.name == ref)))
    if team is None:
        raise NotFound(f"No team '{ref}'.", param="team", code="team_not_found")
    return team


async def _team_of(s: AsyncSession, key: ApiKey) -> Team | None:
    return None if key.team_id is None else await s.get(Team, key.team_id)


async def _key(s: AsyncSession, ref: str) -> ApiKey:
    """A key by id or by the display prefix of any of its secrets."""
    key = await s.get(ApiKey, ref)
    if key is None:
        ids = (await s.scalars(select(KeySecret.key_id).where(KeySecret.display == ref).distinct())).all()
        if len(ids) > 1:
            raise Conflict(f"'{ref}' names more than one key; use the key id.")
        key = await s.get(ApiKey, ids[0]) if ids else None
    if key is None:
        raise NotFound(f"No key '{ref}'.", param="key", code="key_not_found")
    return key


def _set_limits(row: LimitsColumns, limits: LimitsIn, budget: BudgetIn | None) -> None:
    # The view and the row have one field per limit, both named as the schema names it.
    for name in NAMES:
        setattr(row, name, getattr(limits, name))
    _set_budget(row, budget)


def _set_budget(row: LimitsColumns, budget: BudgetIn | None) -> None:
    if budget is None:
        row.budget_usd, row.budget_period, row.budget_alerts = None, "month", [0.5, 0.8, 1.0]
    else:
        row.budget_usd, row.budget_period, row.budget_alerts = budget.usd, budget.period, budget.alert_thresholds


def _patch_limits(row: LimitsColumns, limits: LimitsIn | None, budget: BudgetIn | None, budget_given: bool) -> None:
    if limits is not None:
        for name in limits.model_fields_set:
            setattr(row, name, getattr(limits, name))
    if budget_given:
        _set_budget(row, budget)


def limits_of(row: LimitsColumns) -> LimitsIn:
    return LimitsIn.model_construct(None, **values_of(row))


def budget_of(row: LimitsColumns) -> BudgetIn | None:
    if row.budget_usd is None:
        return None
    return BudgetIn.model_construct(
        usd=row.budget_usd,
        period=row.budget_period,  # type: ignore[arg-type]
        alert_thresholds=list(row.budget_alerts),
    )


def team_view(team: Team) -> TeamView:
    return TeamView(
        id=team.id,
        name=team.name,
        metadata=team.meta,
        limits=limits_of(team),
        budget=budget_of(team),
        created_at=team.created_at,
        updated_at=team.updated_at,
    )


def key_status(key: ApiKey, now: datetime | None = None) -> KeyStatus:
    if key.status == "revoked":
        return "revoked"
    if key.expires_at is not None and key.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def key_view(key: ApiKey, team: Team | None) -> KeyView:
    return KeyView(
        id=key.id,
        name=key.name,
        team_id=key.team_id,
        team=team.name if team else None,
        kind=key.kind,
        env=key.env,
        status=key_status(key),
        display=key.display,
        models=list(key.models),
        endpoints=list(key.endpoints),
        max_tokens=key.max_tokens,
        metadata=key.meta,
        limits=limits_of(key),
        budget=budget_of(key),
        expires_at=key.expires_at,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        created_by=key.created_by,
    )
