"""PII detector throughput on mixed Korean/English text, on one core.

The corpus is read in place from shared/data: KorQuAD paragraphs (Korean prose with many
names and numbers), SQuAD paragraphs (English prose) and the PII sample (business text dense
with identifiers). Each paragraph or record is one `detect` call. The process is pinned to a
single CPU; kiwipiepy's model load and the first call are excluded (a gateway pays them once
at start-up). Reports MB/s (UTF-8 bytes) and records/s per corpus and for the mix, per CPU
second of this process (the figure that does not depend on what else the machine runs) and
per wall-clock second; with `--mask` also detect + mask.

    .venv/bin/python bench/pii_throughput.py [--data /work/shared/data] [--seconds 3] [--mask]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gureum.governance.pii import Action, apply, detect, warm_up  # noqa: E402


def load_corpora(data: Path) -> dict[str, list[str]]:
    def texts(path: Path) -> list[str]:
        with path.open(encoding="utf-8") as f:
            return [json.loads(line)["text"] for line in f if line.strip()]

    corpora = {
        "korean prose (KorQuAD)": texts(data / "retrieval/korquad/corpus.jsonl"),
        "english prose (SQuAD)": texts(data / "retrieval/squad/corpus.jsonl"),
        "business records (PII sample)": texts(data / "pii/pii_public.jsonl"),
    }
    # The mix interleaves all three so that caches see a realistic alternation.
    mixed: list[str] = []
    longest = max(len(c) for c in corpora.values())
    for i in range(longest):
        mixed.extend(c[i] for c in corpora.values() if i < len(c))
    corpora["mixed (all of the above)"] = mixed
    return corpora


def measure(texts: list[str], seconds: float, mask: bool) -> tuple[int, float, float]:
    """(passes, CPU seconds, wall seconds) of whole passes over `texts` lasting `seconds`."""
    actions = {"PERSON": Action.MASK}  # every other type gets the default action, mask
    passes, cpu, wall = 0, time.process_time(), time.perf_counter()
    while True:
        for text in texts:
            found = detect(text)
            if mask:
                apply(text, found, actions)
        passes += 1
        if time.perf_counter() - wall >= seconds:
            return passes, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data", help="the shared/data directory")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum measuring time per corpus")
    parser.add_argument("--mask", action="store_true", help="also time masking the detected entities")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        print(f"pinned to CPU {core} of {os.cpu_count()}")
    corpora = load_corpora(args.data)
    started = time.perf_counter()
    warm_up()
    for texts in corpora.values():  # and the first calls: regex compilation, caches
        for text in texts[:50]:
            detect(text)
    print(f"warm-up (kiwipiepy load, first calls): {time.perf_counter() - started:.1f} s")

    print(f"{'corpus':<32} {'records':>7} {'MB':>5}  {'MB/s cpu':>8} {'MB/s wall':>9} {'records/s cpu':>13}")
    for name, texts in corpora.items():
        size = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        for mask in (False, True) if args.mask else (False,):
            passes, cpu, wall = measure(texts, args.seconds, mask)
            label = f"{'  + mask':<32} {'':>13}" if mask else f"{name:<32} {len(texts):>7} {size:>5.2f}"
            mb_cpu, mb_wall, records_cpu = size * passes / cpu, size * passes / wall, len(texts) * passes / cpu
            print(f"{label}  {mb_cpu:>8.2f} {mb_wall:>9.2f} {records_cpu:>13.0f}")


if __name__ == "__main__":
    main()
