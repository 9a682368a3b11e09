"""Log in with an API key, get a session: the cookie holds a random token, the store its hash and
the key it stands for. Each request re-reads the key, so revoking it ends its sessions at once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.console.tables import console_sessions
from gureum.governance.identity import KeyStore
from gureum.governance.principal import Principal, Role
from gureum.store.tables import api_keys

COOKIE = "gureum_console"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """Derived from the session token: only a page that holds the session can know it, and the
    cookie is SameSite=Strict besides."""
    return hmac.new(token.encode(), b"gureum-console-csrf", hashlib.sha256).hexdigest()


def csrf_ok(token: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(token), sent or "")


class Sessions:
    def __init__(self, engine: AsyncEngine, keys: KeyStore, ttl: timedelta) -> None:
        self.engine, self.keys, self.ttl = engine, keys, ttl

    async def open(self, api_key: str | None) -> tuple[str, Principal]:
        """Authenticate the key (raises the key store's typed error) and start a session for it."""
        principal = await self.keys.authenticate(api_key)
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
            await conn.execute(insert(console_sessions).values(
                token_hash=_hash(token), key_id=principal.key_id, expires_at=now + self.ttl))
        return token, principal

    async def principal(self, token: str | None) -> Principal | None:
        if not token:
            return None
        now = datetime.now(UTC)
        k = api_keys.c
        stmt = (
            select(k.id, k.tenant_id, k.role, k.user_id, k.groups, k.revoked_at, k.expires_at)
            .join(console_sessions, console_sessions.c.key_id == k.id)
            .where(console_sessions.c.token_hash == _hash(token), console_sessions.c.expires_at > now)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return Principal(tenant_id=row.tenant_id, key_id=row.id, role=Role(row.role), user_id=row.user_id,
                         groups=tuple(row.groups or ()))

    async def close(self, token: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _hash(token)))


__all__ = ["COOKIE", "Sessions", "csrf_ok", "csrf_token"]
