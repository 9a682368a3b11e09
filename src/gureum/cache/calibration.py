"""From a false-hit budget to a decision threshold, and the live estimate that tightens it.

`threshold_for_budget`: given the calibrated probabilities the model gave the near misses of a
calibration fold, the lowest threshold that serves at most `budget` of them. The shipped model
keeps those probabilities per source of data (hand-written pairs, KLUE), and a budget must hold
on each source, so a threshold never leans on the easiest kind of near miss.

`ShadowEstimate`: a tenant's shadow comparisons (a semantic hit also answered by the model and the
two answers compared) give a live false-hit rate. When the lower bound of its Wilson interval is
above the budget — the tenant is over budget with confidence, not by one unlucky comparison — the
tenant's effective budget shrinks by the ratio budget / estimate, which the calibration maps to a
higher threshold (`tighten`). Pure bookkeeping: nothing here calls a model.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959964


def threshold_for_budget(negatives: Sequence[float], budget: float) -> float:
    """The lowest threshold t such that the share of `negatives` with probability >= t is at
    most `budget`. With no negatives, nothing is known: 1.0 (serve nothing)."""
    if not negatives:
        return 1.0
    ranked = sorted(negatives, reverse=True)
    allowed = math.floor(budget * len(ranked) + 1e-9)
    if allowed >= len(ranked):
        return 0.0
    # Just above the highest near miss that must not be served.
    return min(1.0, math.nextafter(ranked[allowed], 2.0))


def served_share(scores: Sequence[float], threshold: float) -> float:
    return sum(1 for s in scores if s >= threshold) / max(1, len(scores))


def wilson(wrong: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a rate `wrong` / `n` (0..1 bounds)."""
    if n <= 0:
        return 0.0, 1.0
    p = wrong / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Estimate:
    compared: int
    wrong: int
    rate: float
    low: float
    high: float
    over_budget: bool
    effective_budget: float


class ShadowEstimate:
    """Per-tenant window of the last `window` shadow comparisons of semantic hits."""

    def __init__(self, window: int = 500, min_compared: int = 30) -> None:
        self.window = window
        self.min_compared = min_compared
        self._outcomes: dict[str, deque[bool]] = {}
        self._lock = threading.Lock()

    def record(self, tenant_id: str, wrong: bool) -> None:
        """One comparison: `wrong` when the served answer and the model's fresh answer differed."""
        with self._lock:
            q = self._outcomes.setdefault(tenant_id, deque(maxlen=self.window))
            q.append(wrong)

    def estimate(self, tenant_id: str, budget: float) -> Estimate:
        with self._lock:
            outcomes = list(self._outcomes.get(tenant_id, ()))
        n, wrong = len(outcomes), sum(outcomes)
        low, high = wilson(wrong, n)
        rate = wrong / n if n else 0.0
        over = n >= self.min_compared and low > budget
        effective = budget * budget / rate if over else budget
        return Estimate(n, wrong, rate, low, high, over, effective)


def tighten(base: float, calibrated: float, budget: float, effective: float) -> float:
    """The threshold for an effective budget below the configured one. The calibration fold
    cannot tell budgets apart below one near miss in its size (both serve none of its near
    misses), so the threshold also moves toward 1 by the share the budget shrank: always higher
    than `base` while the tenant is over budget."""
    if effective >= budget:
        return base
    return max(calibrated, base + (1.0 - base) * (1.0 - effective / budget))
