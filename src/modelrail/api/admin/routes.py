"""The admin routes. Each one needs an admin principal; every change is audited by the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from modelrail.api.admin.app import Admin, Store, actor
from modelrail.auth.master_key import MASTER
from modelrail.auth.principal import Principal
from modelrail.errors import PermissionDenied
from modelrail.store.keys import KeyStore
from modelrail.store.views import (
    AuditView,
    KeyCreate,
    KeyCreated,
    KeyStatus,
    KeyUpdate,
    KeyView,
    RotateRequest,
    TeamCreate,
    TeamUpdate,
    TeamView,
)

router = APIRouter()


@router.get("/teams", response_model=list[TeamView], tags=["teams"])
async def list_teams(admin: Admin, store: Store) -> list[TeamView]:
    return await store.list_teams()


@router.post("/teams", response_model=TeamView, status_code=201, tags=["teams"])
async def create_team(body: TeamCreate, admin: Admin, store: Store) -> TeamView:
    return await store.create_team(body, actor=actor(admin))


@router.get("/teams/{team}", response_model=TeamView, tags=["teams"])
async def get_team(team: str, admin: Admin, store: Store) -> TeamView:
    """A team by id or name."""
    return await store.get_team(team)


@router.patch("/teams/{team}", response_model=TeamView, tags=["teams"])
async def update_team(team: str, body: TeamUpdate, admin: Admin, store: Store) -> TeamView:
    return await store.update_team(team, body, actor=actor(admin))


@router.delete("/teams/{team}", status_code=204, tags=["teams"])
async def delete_team(team: str, admin: Admin, store: Store) -> Response:
    """Delete a team that has no keys."""
    await store.delete_team(team, actor=actor(admin))
    return Response(status_code=204)


@router.get("/keys", response_model=list[KeyView], tags=["keys"])
async def list_keys(
    admin: Admin,
    store: Store,
    team: Annotated[str | None, Query(description="Team id or name.")] = None,
    status: KeyStatus | None = None,
) -> list[KeyView]:
    """Keys, never their secrets: ``display`` names each one."""
    return await store.list_keys(team=team, status=status)


@router.post("/keys", response_model=KeyCreated, status_code=201, tags=["keys"])
async def create_key(body: KeyCreate, admin: Admin, store: Store) -> KeyCreated:
    """Create a key. The response holds its secret, shown only this once. An admin key made by an
    admin key that expires must expire no later than its maker."""
    if body.kind == "admin":
        limit = await _maker_expiry(admin, store)
        if limit is not None:
            asked = body.expires_at
            if body.expires_in_seconds is not None:
                asked = datetime.now(UTC) + timedelta(seconds=body.expires_in_seconds)
            _no_later(asked, limit)
    return await store.create_key(body, actor=actor(admin))


@router.get("/keys/{key}", response_model=KeyView, tags=["keys"])
async def get_key(key: str, admin: Admin, store: Store) -> KeyView:
    """A key by id or display prefix."""
    return await store.get_key(key)


@router.patch("/keys/{key}", response_model=KeyView, tags=["keys"])
async def update_key(key: str, body: KeyUpdate, admin: Admin, store: Store) -> KeyView:
    if "expires_at" in body.model_fields_set:
        limit = await _maker_expiry(admin, store)
        if limit is not None and (await store.get_key(key)).kind == "admin":
            _no_later(body.expires_at, limit)
    return await store.update_key(key, body, actor=actor(admin))


async def _maker_expiry(admin: Principal, store: KeyStore) -> datetime | None:
    """When the calling admin key expires; None for the master key and keys that never expire."""
    if admin.key_id == MASTER.key_id:
        return None
    return (await store.get_key(admin.key_id)).expires_at


def _no_later(asked: datetime | None, limit: datetime) -> None:
    """An admin key that expires cannot make (or stretch) an admin key that outlives it."""
    if asked is None or asked > limit:
        raise PermissionDenied(
            f"This admin key expires at {limit.isoformat()}; an admin key it makes or changes must expire "
            "no later (set expires_at).",
            param="expires_at",
        )


@router.post("/keys/{key}/revoke", response_model=KeyView, tags=["keys"])
async def revoke_key(key: str, admin: Admin, store: Store) -> KeyView:
    """Revoke a key: every worker refuses it within about a second."""
    return await store.revoke_key(key, actor=actor(admin))


@router.post("/keys/{key}/rotate", response_model=KeyCreated, tags=["keys"])
async def rotate_key(key: str, admin: Admin, store: Store, body: RotateRequest | None = None) -> KeyCreated:
    """Give a key a new secret (shown once); the old one works for ``grace_seconds`` more."""
    grace = body.grace_seconds if body else 0
    return await store.rotate_key(key, grace_seconds=grace, actor=actor(admin))


@router.get("/audit", response_model=list[AuditView], tags=["audit"])
async def audit_log(
    admin: Admin,
    store: Store,
    target_type: Annotated[str | None, Query(pattern="^(team|key)$")] = None,
    target_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditView]:
    """Who did what to which team or key, newest first."""
    return await store.audit(target_type=target_type, target_id=target_id, limit=limit)
