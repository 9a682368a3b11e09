"""`gureum keys create|list|revoke`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_store
from gureum.governance.audit import AuditEvent
from gureum.governance.identity import KeyStore
from gureum.governance.principal import Role
from gureum.store import Store

app = typer.Typer(no_args_is_help=True)


async def _audit(store: Store, action: str, resource: str, detail: dict[str, object]) -> None:
    from gureum.governance.recorder import Recorder
    from gureum.platform import psycopg_dsn

    rec = Recorder(psycopg_dsn(store.url))
    await rec.start()
    try:
        await rec.record(audit=AuditEvent(action=action, resource=resource, detail={"via": "cli", **detail}))
    finally:
        await rec.stop()


@app.command()
def create(
    tenant: str = typer.Option("default", "--tenant", "-t", help="Tenant the key belongs to."),
    user: str | None = typer.Option(None, "--user", "-u", help="User the key acts for."),
    role: Role = typer.Option(Role.MEMBER, "--role", "-r", help="admin, member or auditor."),
    group: list[str] = typer.Option([], "--group", "-g", help="Group membership (repeatable), used by ACLs."),
    name: str = typer.Option("", "--name", help="A label for the key."),
    expires_days: float | None = typer.Option(None, "--expires-days", help="Expire after this many days."),
    create_tenant: bool = typer.Option(False, "--create-tenant", help="Create the tenant if it does not exist."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Create an API key and print it once."""
    if expires_days is not None and expires_days <= 0:
        raise fail("--expires-days must be positive")
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None

    async def run(store: Store) -> str:
        key, info = await KeyStore(store.engine).create(
            tenant_id=tenant, role=role, user_id=user, name=name, groups=group, expires_at=expires,
            create_tenant=create_tenant,
        )
        await _audit(store, "admin.key.create", f"key:{info.id}", {"tenant": tenant, "role": role.value})
        return f"{info.id}\t{key}"

    key_id, key = with_store(settings(config, data_dir), run).split("\t")
    typer.echo(f"created {key_id} (tenant {tenant}, role {role.value}); the key is shown only now:")
    typer.echo(key)


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this tenant."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """List keys (never their secrets)."""
    keys = with_store(settings(config, data_dir), lambda store: KeyStore(store.engine).list(tenant))
    table = Table("id", "tenant", "user", "role", "prefix", "groups", "expires", "revoked")
    for k in keys:
        table.add_row(
            k.id, k.tenant_id, k.user_id or "", k.role, k.prefix + "…", ",".join(k.groups),
            k.expires_at.isoformat(timespec="minutes") if k.expires_at else "",
            k.revoked_at.isoformat(timespec="minutes") if k.revoked_at else "",
        )
    Console().print(table)


@app.command()
def revoke(
    key_id: str = typer.Argument(help="The key id (key_…) from `gureum keys list`."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Revoke a key; it stops working within seconds on every replica."""

    async def run(store: Store) -> None:
        info = await KeyStore(store.engine).revoke(key_id)
        await _audit(store, "admin.key.revoke", f"key:{key_id}", {"tenant": info.tenant_id})

    with_store(settings(config, data_dir), run)
    typer.echo(f"revoked {key_id}")
