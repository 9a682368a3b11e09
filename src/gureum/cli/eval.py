"""`gureum eval retrieval --dataset DIR`: retrieval quality on a BEIR-format dataset."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_platform

if TYPE_CHECKING:
    from gureum.platform import Platform

app = typer.Typer(no_args_is_help=True)


@app.command()
def retrieval(
    dataset: Path = typer.Option(..., "--dataset", help="Folder with corpus.jsonl, queries.jsonl and qrels.tsv."),
    k: int = typer.Option(10, "--k", help="Documents retrieved per query (metrics use up to 10)."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid (default), lexical or dense."),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary collection afterwards."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Ingest the dataset into a fresh temporary collection through the normal pipeline, run every
    query, and print one JSON line: recall@1/5/10, mrr@10, ndcg@10, ingest and query timings."""
    from gureum.governance.principal import Principal
    from gureum.knowledge.evaluate import EVAL_TENANT, evaluate
    from gureum.knowledge.retrieve import Options

    if mode not in ("hybrid", "lexical", "dense"):
        raise fail("--mode must be hybrid, lexical or dense")
    if not dataset.is_dir():
        raise fail(f"{dataset} is not a folder", "point --dataset at a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv)")
    s = settings(config, data_dir)
    console = Console(stderr=True)

    async def run(platform: Platform) -> dict[str, object]:
        principal = Principal.service(EVAL_TENANT, "eval")
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"ingest {dataset.name}", total=None)

            def progress(event: str, n: int) -> None:
                if event in ("skipped", "indexed", "failed"):
                    bar.advance(task, n)

            return await evaluate(platform.store.engine, s, dataset,
                                  lambda col: platform.embedder(principal, col, origin="eval"),
                                  options=Options(k=k, mode=mode), keep=keep, progress=progress)  # type: ignore[arg-type]

    out = with_platform(s, run)
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
