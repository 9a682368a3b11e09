"""`gureum route train|explain`: the difficulty model behind cost-aware `auto` routing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_store
from gureum.economy.usage import training_rows
from gureum.routing import difficulty
from gureum.store import Store

app = typer.Typer(no_args_is_help=True)


@app.command()
def train(
    from_ledger: bool = typer.Option(False, "--from-ledger", help="Learn from `auto` ledger rows labelled good/bad."),
    from_jsonl: Path | None = typer.Option(None, "--from-jsonl", help="Learn from a labelled JSONL file."),
    out: Path = typer.Option(Path("difficulty-model.json"), "--out", "-o", help="Where to write the weights."),
    since: datetime | None = typer.Option(None, "--since", help="Only ledger rows from this time (ISO)."),
    l2: float = typer.Option(0.01, "--l2", help="L2 regularisation strength."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Fit the ordinal logistic difficulty model; point `economy.difficulty_model` at the output.

    JSONL lines: {"messages": [...], "tier": 3}, or {"features": {...}, "tier": 3}, or
    {"messages": [...], "served_tier": 2, "outcome": "good"|"bad"}. Ledger rows are labelled with
    POST /v1/usage/outcomes."""
    if not from_ledger and from_jsonl is None:
        raise fail("choose --from-ledger or --from-jsonl FILE")
    samples: list[difficulty.Sample] = []
    if from_jsonl is not None:
        try:
            samples += difficulty.samples_from_jsonl(from_jsonl.read_text(encoding="utf-8").splitlines())
        except (OSError, ValueError) as exc:
            raise fail(f"{from_jsonl}: {exc}") from None
    if from_ledger:

        async def run(store: Store) -> list[dict[str, object]]:
            return await training_rows(store.engine, since)

        samples += difficulty.samples_from_routes(with_store(settings(config, data_dir), run))
    if len(samples) < 10:
        raise fail(f"only {len(samples)} labelled samples; need at least 10", "label more requests first")
    model = difficulty.fit(samples, l2=l2)
    model.save(out)
    typer.echo(f"trained on {len(samples)} samples; wrote {out}")
    for k, b in enumerate(model.meta["boundaries"], start=1):
        typer.echo(f"  tier>{k}: {b['known']} informative samples, {b['above']} above")


@app.command()
def explain(
    message: str = typer.Argument(help="The user message (use quotes)."),
    tools: int = typer.Option(0, "--tools", help="Number of tools the request offers."),
    model_file: Path | None = typer.Option(None, "--model", help="Difficulty model JSON (default: heuristic)."),
) -> None:
    """Show the tier `auto` would require for a message, and why."""
    body = {"messages": [{"role": "user", "content": message}],
            "tools": [{"type": "function", "function": {"name": f"t{i}"}} for i in range(tools)]}
    estimator = difficulty.load_estimator(model_file)
    d = estimator.estimate(body)
    typer.echo(f"required tier: {d.tier} ({d.source})")
    for r in d.reasons:
        typer.echo(f"  - {r}")


__all__ = ["app"]
