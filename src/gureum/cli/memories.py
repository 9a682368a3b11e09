"""`gureum memories`: see and forget an agent user's long-term memories — over the HTTP API with
an API key, so a user sees only their own and only a tenant admin forgets someone else."""

from __future__ import annotations

import httpx
import orjson
import typer
from rich.table import Table

from gureum.cli.agents import KeyOpt, UrlOpt, _check, _client, _send, console

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_memories(agent: str | None = typer.Option(None, "--agent", help="Only this agent's memories."),
                  url: str = UrlOpt, key: str | None = KeyOpt) -> None:
    """The key's user's own memories."""
    with _client(url, key) as client:
        query = httpx.QueryParams({"agent": agent} if agent else {})
        data = _check(_send(client, "GET", f"/v1/memories?{query}"))["data"]
    table = Table("id", "agent", "memory", "created")
    for m in data:
        table.add_row(str(m["id"]), m["agent"], m["text"], m["created_at"])
    console.print(table)


@app.command("forget")
def forget(user: str | None = typer.Option(None, "--user", help="Forget this user (tenant admins); default: yourself."),
           agent: str | None = typer.Option(None, "--agent", help="Only what this agent holds; default: every agent."),
           yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
           url: str = UrlOpt, key: str | None = KeyOpt) -> None:
    """Delete a user's memories and sessions; prints the deletion receipt."""
    who = user or "yourself"
    if not yes and not typer.confirm(f"Forget {who}{f' for agent {agent}' if agent else ''}? This cannot be undone"):
        raise typer.Exit(1)
    params = {k: v for k, v in (("user", user), ("agent", agent)) if v}
    with _client(url, key) as client:
        receipt = _check(_send(client, "DELETE", f"/v1/memories?{httpx.QueryParams(params)}"))
    console.print_json(orjson.dumps(receipt).decode())
