"""Tenants, users and API keys. Keys are random 256-bit secrets stored only as SHA-256 hashes (a
slow KDF buys nothing for secrets of that entropy and would cost CPU on every request); a
short-lived in-process cache keeps the lookup off the database on the hot path."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.errors import AuthenticationFailed, InvalidRequest, NotFound
from gureum.governance.principal import ROOT_TENANT, Principal, Role
from gureum.store.tables import api_keys, tenants, users

KEY_PREFIX = "gk-"
CACHE_TTL = 5.0  # seconds a key lookup is trusted; revocation reaches other replicas within this


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    tenant_id: str
    user_id: str | None
    name: str
    role: str
    prefix: str
    groups: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "groups": self.groups,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, Principal | None, datetime | None]] = {}

    async def ensure_tenant(self, tenant_id: str, name: str | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                pg_insert(tenants).values(id=tenant_id, name=name or tenant_id).on_conflict_do_nothing()
            )

    async def tenants(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        q = select(tenants).order_by(tenants.c.id)
        if tenant_id is not None:
            q = q.where(tenants.c.id == tenant_id)
        async with self.engine.connect() as conn:
            return [
                {"id": r.id, "name": r.name, "created_at": r.created_at.isoformat()} for r in await conn.execute(q)
            ]

    async def create(
        self,
        *,
        tenant_id: str,
        role: Role,
        user_id: str | None = None,
        name: str = "",
        groups: list[str] | None = None,
        expires_at: datetime | None = None,
        secret: str | None = None,
        create_tenant: bool = False,
    ) -> tuple[str, KeyInfo]:
        """A new key of an existing tenant (`create_tenant` creates it first: tenants are made on
        purpose, so a typo in a tenant id is a 404 and not a new tenant)."""
        if not tenant_id or not tenant_id.replace("-", "").replace("_", "").isalnum():
            raise InvalidRequest("tenant id must be letters, digits, '-' or '_'", param="tenant_id")
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise InvalidRequest("expires_at is in the past", param="expires_at")
        key = secret or new_key()
        key_id = "key_" + uuid.uuid4().hex[:16]
        groups = sorted(set(groups or []))
        async with self.engine.begin() as conn:
            if create_tenant:
                await conn.execute(pg_insert(tenants).values(id=tenant_id, name=tenant_id).on_conflict_do_nothing())
            elif (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first() is None:
                raise NotFound(f"no tenant '{tenant_id}': create it first (POST /v1/admin/tenants, or "
                               "`gureum keys create --create-tenant`)", param="tenant_id")
            if user_id:
                await conn.execute(
                    pg_insert(users)
                    .values(tenant_id=tenant_id, id=user_id, groups=groups)
                    .on_conflict_do_nothing()
                )
            row = (
                await conn.execute(
                    api_keys.insert()
                    .values(
                        id=key_id, tenant_id=tenant_id, user_id=user_id, name=name, role=role.value,
                        hash=hash_key(key), prefix=key[:8], groups=groups, expires_at=expires_at,
                    )
                    .returning(*api_keys.c)
                )
            ).one()
        return key, _info(row)

    async def list(self, tenant_id: str | None = None) -> list[KeyInfo]:
        q = select(api_keys).order_by(api_keys.c.created_at)
        if tenant_id is not None:
            q = q.where(api_keys.c.tenant_id == tenant_id)
        async with self.engine.connect() as conn:
            return [_info(r) for r in await conn.execute(q)]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return len((await conn.execute(select(api_keys.c.id).limit(1))).all())

    async def revoke(self, key_id: str, tenant_id: str | None = None) -> KeyInfo:
        q = update(api_keys).where(api_keys.c.id == key_id)
        if tenant_id is not None:
            q = q.where(api_keys.c.tenant_id == tenant_id)
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(q.values(revoked_at=datetime.now(UTC)).returning(*api_keys.c))
            ).one_or_none()
        if row is None:
            raise NotFound(f"no API key '{key_id}'" + (f" in tenant '{tenant_id}'" if tenant_id else ""))
        self._cache.pop(row.hash, None)
        return _info(row)

    async def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise AuthenticationFailed(
                "Missing API key: send 'Authorization: Bearer <key>' (create one with `gureum keys create`).",
                code="missing_api_key",
            )
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or now - hit[0] > CACHE_TTL:
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(api_keys).where(api_keys.c.hash == digest))).one_or_none()
            principal = None
            expires = None
            if row is not None and row.revoked_at is None:
                principal = Principal(
                    tenant_id=row.tenant_id, key_id=row.id, role=Role(row.role), user_id=row.user_id,
                    groups=tuple(row.groups or ()),
                )
                expires = row.expires_at
            if len(self._cache) > 50_000:
                self._cache.clear()
            hit = (now, principal, expires)
            self._cache[digest] = hit
        _, principal, expires = hit
        if principal is None:
            raise AuthenticationFailed("Incorrect or revoked API key.")
        if expires is not None and expires <= datetime.now(UTC):
            raise AuthenticationFailed("This API key has expired; create a new one.", code="expired_api_key")
        return principal

    async def bootstrap(self, admin_key: str | None) -> str | None:
        """With an empty key table, create the platform admin key (the given one or a new one).
        Returns the key when one was generated, so the caller can show it once."""
        if await self.count():
            return None
        try:
            key, _ = await self.create(tenant_id=ROOT_TENANT, role=Role.ADMIN, name="bootstrap admin", secret=admin_key,
                                       create_tenant=True)
        except IntegrityError:
            return None  # another replica starting at the same moment created it
        return None if admin_key else key


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        id=row.id, tenant_id=row.tenant_id, user_id=row.user_id, name=row.name, role=row.role, prefix=row.prefix,
        groups=list(row.groups or []), created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
    )
