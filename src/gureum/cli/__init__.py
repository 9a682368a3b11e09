"""The `gureum` command. Each command group lives in its own module and is mounted here."""

from __future__ import annotations

import typer

from gureum.cli import audit, keys, serve

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False, help="gureum (구름): a self-hosted AI-native platform."
)
app.command("serve")(serve.serve)
app.add_typer(keys.app, name="keys", help="Create, list and revoke API keys.")
app.add_typer(audit.app, name="audit", help="Verify and export the hash-chained audit log.")


def _mount_optional() -> None:
    # Command groups owned by feature folders; each is a plain Typer app.
    import importlib

    for module, name, help_ in (
        ("gureum.cli.pii", "pii", "Detect PII in text and score the detector."),
        ("gureum.cli.knowledge", "collections", "Create, list and delete knowledge collections."),
        ("gureum.cli.eval", "eval", "Evaluate retrieval quality."),
        ("gureum.cli.usage", "usage", "Usage and cost per tenant, user, key, model, deployment or day."),
        ("gureum.cli.route", "route", "Cost-aware routing: explain a request's tier, train the difficulty model."),
        ("gureum.cli.config", "config", "Show the configuration reference, the effective settings and the JSON Schema."),
        ("gureum.cli.check", "check", "Check the declared platform: workloads, data gravity, flow security, cost."),
        ("gureum.cli.diagram", "diagram", "Draw the declared data flow and workloads (Mermaid, SVG)."),
        ("gureum.cli.prove", "prove", "Prove it holds: load, faults, bad input and isolation."),
        ("gureum.cli.jobs", "jobs", "Submit, list, follow, cancel and retry jobs; `gureum worker` runs them."),
        ("gureum.cli.agents", "agents", "List agents, run a turn (streamed), approve a paused tool call."),
        ("gureum.cli.memories", "memories", "List your agents' long-term memories; forget a user."),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        if isinstance(mod.app, typer.Typer):
            app.add_typer(mod.app, name=name, help=help_)
        for command, fn in getattr(mod, "commands", {}).items():  # root-level commands (gureum ingest …)
            app.command(command)(fn)


_mount_optional()


def main() -> None:
    app()
