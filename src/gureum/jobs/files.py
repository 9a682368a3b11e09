"""Stored files (OpenAI Files API): batch inputs uploaded by users and batch outputs written by
jobs. Reads are scoped to the tenant, and to the user for members, like jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.jobs.checkpoints import write_durably


@dataclass(frozen=True)
class StoredFile:
    id: str
    tenant_id: str
    user_id: str | None
    purpose: str
    filename: str
    bytes: int
    path: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": self.bytes, "created_at": int(self.created_at.timestamp()),
                "filename": self.filename, "purpose": self.purpose, "status": "processed", "status_details": None}


class FileStore:
    def __init__(self, engine: AsyncEngine, root: Path) -> None:
        self.engine, self.root = engine, root

    async def create(self, tenant_id: str, user_id: str | None, purpose: str, filename: str, data: bytes) -> StoredFile:
        file_id = "file-" + uuid.uuid4().hex[:24]
        self.root.mkdir(parents=True, exist_ok=True)
        path = (self.root / file_id).resolve()
        write_durably(path, data)
        return await self.register(file_id, tenant_id, user_id, purpose, filename, path)

    async def register(self, file_id: str, tenant_id: str, user_id: str | None, purpose: str, filename: str,
                       path: Path) -> StoredFile:
        """Record a file already on disk; registering the same id again is a no-op (a job that
        finished its output and was killed before ending registers it again on resume)."""
        async with self.engine.begin() as conn:
            await conn.execute(text(
                """INSERT INTO files (id, tenant_id, user_id, purpose, filename, bytes, path)
                   VALUES (:id, :t, :u, :p, :f, :b, :path) ON CONFLICT (id) DO NOTHING"""),
                {"id": file_id, "t": tenant_id, "u": user_id, "p": purpose, "f": filename,
                 "b": path.stat().st_size, "path": str(path)})
        found = await self.get(tenant_id, None, file_id)
        assert found is not None
        return found

    async def get(self, tenant_id: str, user_id: str | None, file_id: str) -> StoredFile | None:
        """The file if it is `tenant_id`'s (and `user_id`'s, when given)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                """SELECT id, tenant_id, user_id, purpose, filename, bytes, path, created_at FROM files
                   WHERE id = :id AND tenant_id = :t AND (CAST(:u AS text) IS NULL OR user_id = :u)"""),
                {"id": file_id, "t": tenant_id, "u": user_id})).first()
        return StoredFile(**row._mapping) if row else None
