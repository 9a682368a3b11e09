"""`gureum pii detect|eval`: run the PII detector on JSONL, or score it on a labelled file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gureum.cli.common import fail
from gureum.governance.pii import TYPES, Analyzer
from gureum.governance.pii.engine import DEFAULT_MIN_SCORE
from gureum.governance.pii.evaluate import LabelledFileError, Report, evaluate, load

app = typer.Typer(no_args_is_help=True)

MinScoreOpt = typer.Option(DEFAULT_MIN_SCORE, "--min-score", min=0.0, max=1.0, help="Drop entities scored below this.")


@app.command()
def detect(
    min_score: float = MinScoreOpt,
    types: str | None = typer.Option(
        None, "--types", help=f"Comma-separated types to detect (default all: {','.join(TYPES)})."
    ),
) -> None:
    """Detect PII in JSONL {"text": ...} lines on stdin; write one {"entities": [...]} line for each.

    Each entity is {"start", "end", "type", "score"}; offsets are Python string indices (code
    points), end exclusive.
    """
    wanted = _parse_types(types)
    analyzer = Analyzer(min_score=min_score)
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise fail(
                f"line {n} of stdin is not valid JSON ({e.msg} at column {e.colno})",
                'send one JSON object per line, e.g. {"text": "홍길동 010-1234-5678"}',
            ) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise fail(f'line {n} of stdin has no string "text" field', 'each line must look like {"text": "..."}')
        entities = analyzer.detect(obj["text"], types=wanted)
        out = {"entities": [{"start": e.start, "end": e.end, "type": e.type, "score": e.score} for e in entities]}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@app.command("eval")
def eval_(
    file: Path = typer.Argument(..., help="Labelled JSONL (the format of shared/data/pii/pii_public.jsonl)."),
    as_json: bool = typer.Option(False, "--json", help="Print one machine-readable JSON line instead of the table."),
    errors: bool = typer.Option(
        False, "--errors", help="Also list every false positive, miss and flagged hard negative."
    ),
    min_score: float = MinScoreOpt,
) -> None:
    """Score the detector on a labelled file: per-type precision/recall/F1 and hard-negative hits.

    Spans must match exactly in offsets and type. Hard negatives are look-alikes (order numbers,
    invalid checksums, impossible dates) that must not be flagged.
    """
    if not file.is_file():
        raise fail(f"{file} is not a file", "pass a labelled JSONL file, e.g. ../shared/data/pii/pii_public.jsonl")
    try:
        records = load(file)
    except LabelledFileError as e:
        raise fail(f"{file}: {e}", "fix that line; see shared/data/README.md for the format") from None
    except UnicodeDecodeError:
        raise fail(f"{file} is not UTF-8 text", "convert it to UTF-8 JSONL") from None
    analyzer = Analyzer(min_score=min_score)
    report = evaluate(records, analyzer.detect)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_table(report)
    if errors:
        _print_errors(report, {r.id: r.text for r in records})


def _parse_types(types: str | None) -> frozenset[str] | None:
    if types is None:
        return None
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip())
    unknown = sorted(wanted - set(TYPES))
    if unknown:
        raise fail(f"unknown entity type(s): {', '.join(unknown)}", f"choose from {', '.join(TYPES)}")
    return wanted


def _print_table(report: Report) -> None:
    table = Table(title=f"PII detection on {report.records} records (exact span match)")
    table.add_column("type", no_wrap=True, min_width=17)
    for name in ("gold", "pred", "TP", "FP", "FN", "P", "R", "F1"):
        table.add_column(name, justify="right")
    rows = [*sorted(report.per_type.items()), ("micro avg", report.micro)]
    for i, (type_, s) in enumerate(rows):
        table.add_row(
            type_, str(s.tp + s.fn), str(s.tp + s.fp), str(s.tp), str(s.fp), str(s.fn),
            f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}",
            end_section=i == len(rows) - 2,
        )
    console = Console()
    console.print(table)
    console.print(f"hard-negative false positives: {report.hard_negative_fps} of {report.hard_negatives}")


def _print_errors(report: Report, texts: dict[str, str]) -> None:
    console = Console()
    for m in report.misses:
        value = texts.get(m.record_id, "")[m.start : m.end]
        detail = f" ({m.detail})" if m.detail else ""
        console.print(f"{m.record_id}  {m.kind:<15} {m.type:<18} {value!r}{detail}", markup=False, highlight=False)
