"""`gureum agents`: list a tenant's agents and run a turn, streaming its steps — over the HTTP API
with an API key, so the agent acts as that key's user (their ACL, grants and budgets) exactly as
it does for any other client."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from gureum.cli.common import fail

app = typer.Typer(no_args_is_help=True)
console = Console()

UrlOpt = typer.Option("http://127.0.0.1:8000", "--url", envvar="GUREUM_URL", help="The gureum server.")
KeyOpt = typer.Option(None, "--key", envvar="GUREUM_API_KEY", help="API key (the user the agent acts for).")


def _client(url: str, key: str | None) -> httpx.Client:
    if not key:
        raise fail("no API key", "pass --key or set GUREUM_API_KEY (create one with `gureum keys create`)")
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=httpx.Timeout(300, connect=5))


def _check(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:200]
        raise fail(f"{r.status_code}: {message}", "check the agent name, the key's tenant and role, or the session id")
    return r.json()


def _send(client: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    try:
        return client.request(method, path, json=body)
    except httpx.TransportError as exc:
        raise fail(f"cannot reach {client.base_url}: {exc}", "start the server (`gureum serve`) or pass --url") from None


@app.command("list")
def list_agents(url: str = UrlOpt, key: str | None = KeyOpt) -> None:
    """The agents of the key's tenant."""
    with _client(url, key) as client:
        data = _check(_send(client, "GET", "/v1/agents"))["data"]
    table = Table("name", "model", "tools", "collections", "source", "description")
    for a in data:
        table.add_row(a["name"], a["model"], ", ".join(t["name"] + (" (risky)" if t["risky"] else "") for t in a["tools"]),
                      ", ".join(a["collections"]), a["source"], a["description"])
    console.print(table)


def _show(event: dict[str, Any], where: str) -> None:
    kind = event["type"]
    if kind == "step":
        console.print(f"[dim]step {event['step']} · {event.get('deployment')} · {event['tokens']} tokens[/]")
    elif kind == "tool_call":
        console.print(f"[cyan]→ {event['tool']}[/] {event['arguments']}")
    elif kind == "tool_result":
        colour = "green" if event["status"] == "ok" else "yellow"
        console.print(f"[{colour}]← {event['tool']} ({event['status']})[/] {str(event['content'])[:300]}")
    elif kind == "approval_required":
        console.print(f"[bold yellow]approval needed[/] for {event['tool']} {orjson.dumps(event['arguments']).decode()}: "
                      f"gureum agents approve {where} {event['approval_id']}")
    elif kind == "answer":
        console.print(event["content"])
    elif kind == "error":
        console.print(f"[bold red]{event['code']}:[/] {event['message']}")
    elif kind == "done":
        console.print(f"[dim]{event['status']} · {orjson.dumps(event.get('usage') or {}).decode()}[/]")


def _stream(client: httpx.Client, agent: str, session: str, path: str, body: dict[str, Any]) -> None:
    try:
        with client.stream("POST", path, json={**body, "stream": True}) as r:
            if r.status_code >= 400:
                r.read()
                _check(r)
            for line in r.iter_lines():
                if line.startswith("data: "):
                    _show(orjson.loads(line[6:]), f"{agent} {session}")
    except httpx.TransportError as exc:
        raise fail(f"cannot reach {client.base_url}: {exc}", "start the server (`gureum serve`) or pass --url") from None


@app.command("run")
def run(agent: str, message: str,
        session: str | None = typer.Option(None, "--session", "-s", help="Continue this session (default: a new one)."),
        url: str = UrlOpt, key: str | None = KeyOpt) -> None:
    """Send MESSAGE to AGENT and stream the turn's steps, tool calls and answer."""
    with _client(url, key) as client:
        if session is None:
            session = _check(_send(client, "POST", f"/v1/agents/{agent}/sessions", {}))["id"]
            console.print(f"[dim]session {session}[/]")
        _stream(client, agent, session, f"/v1/agents/{agent}/sessions/{session}/messages", {"content": message})


@app.command("approve")
def approve(agent: str, session: str, approval: str,
            deny: bool = typer.Option(False, "--deny", help="Deny the call instead of approving it."),
            reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log)."),
            url: str = UrlOpt, key: str | None = KeyOpt) -> None:
    """Approve (or --deny) a paused risky tool call; the turn continues and streams."""
    with _client(url, key) as client:
        _stream(client, agent, session, f"/v1/agents/{agent}/sessions/{session}/approvals/{approval}",
                {"decision": "deny" if deny else "approve", "reason": reason})


__all__ = ["app"]
