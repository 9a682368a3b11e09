from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gureum.jobs.repository import JobRepository
from gureum.store import Store, open_store


@pytest.fixture(scope="module")
async def store(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Store]:
    s = await open_store(tmp_path_factory.mktemp("store"), database_url, pool_size=4)
    yield s
    await s.close()


@pytest.fixture
def repo(store: Store) -> JobRepository:
    return JobRepository(store.engine)


@pytest.fixture
def lines_file(tmp_path: Path) -> Path:
    p = tmp_path / "input.txt"
    p.write_text("".join(f"line {i} 구름\n" for i in range(40)))
    return p
