"""The equivalence decision: may the answer stored for one request serve another?

A logistic model over `features.features` (cosine, aligned terms and their roles, numbers,
negation, frame, language, …) gives a score; Platt scaling fitted on a calibration fold turns it
into a probability that the two requests share an answer. The threshold comes from a false-hit
budget — the share of near misses the cache may serve — through the near-miss probabilities the
calibration fold left in the model file (`calibration.threshold_for_budget`), per stratum: pairs
in one language, and pairs across languages (Korean ↔ English), whose evidence is thinner — the
term alignment only reaches as far as the lexicon — and which get their own, higher threshold.

The model is a JSON file of coefficients (`model.json` beside this module; no pickle, so loading
it runs no code), written by `bench/cache_train.py`. A verdict carries the probability and its
margin to the threshold, so a caller can treat a small margin as "unsure" (e.g. ask a model).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from gureum.cache import features as feats
from gureum.cache.analysis import Analysis
from gureum.cache.calibration import threshold_for_budget

MODEL_PATH = Path(__file__).with_name("model.json")

# Plain-language names for the features that most often decide, used in explanations.
LABELS = {
    "substitution": "a term was substituted", "sub_entity": "a name was substituted",
    "num_diff": "numbers differ", "num_one": "a number on one side only", "neg_diff": "one side is negated",
    "frame_conflict": "they ask for different things", "role_change": "terms changed roles (from/to, of/for, who/whom)", "order_inv": "word order reversed",
    "extra_noun": "a term on one side only", "modifier_added": "a qualifier added", "opposite": "an opposite term", "cos": "cosine", "cos_clean": "meaning agrees",
    "clean": "terms, numbers and roles agree", "shared_frac": "shared terms",
}


class Thresholds(NamedTuple):
    same: float  # both requests in one language
    cross: float  # a Korean request against an English one, or the reverse

    @classmethod
    def fixed(cls, value: float) -> Thresholds:
        return cls(value, value)


@dataclass(frozen=True, slots=True)
class Verdict:
    probability: float
    threshold: float
    cosine: float
    reason: str

    @property
    def served(self) -> bool:
        return self.probability >= self.threshold

    @property
    def margin(self) -> float:
        """Probability minus threshold: near 0 means unsure."""
        return self.probability - self.threshold


class EquivalenceModel:
    def __init__(self, spec: dict[str, Any]) -> None:
        if list(spec["features"]) != list(feats.NAMES):
            raise ValueError("the cache model was trained on other features; retrain with bench/cache_train.py")
        self.spec = spec
        self.mean: list[float] = spec["mean"]
        self.scale: list[float] = spec["scale"]
        self.coef: list[float] = spec["coef"]
        self.intercept: float = spec["intercept"]
        self.platt = (float(spec["platt"][0]), float(spec["platt"][1]))
        self.min_cosine: float = spec["min_cosine"]
        self.calibration: dict[str, list[float]] = spec["calibration"]

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> EquivalenceModel:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def contributions(self, f: dict[str, float]) -> list[tuple[str, float]]:
        x = feats.vector(f)
        return [(n, c * (v - m) / s) for n, c, v, m, s in zip(feats.NAMES, self.coef, x, self.mean, self.scale,
                                                               strict=True)]

    def probability_of(self, f: dict[str, float]) -> float:
        z = self.intercept + sum(c for _, c in self.contributions(f))
        a, b = self.platt
        t = a * z + b
        # Kept below 1, so that a fixed threshold of 1.0 means "never serve a paraphrase".
        return min(1.0 - 1e-9, 1.0 / (1.0 + math.exp(-t))) if t > -700 else 0.0

    def threshold(self, budget: float, cross: bool = False) -> float:
        return _threshold(self, budget, cross)

    def thresholds(self, budget: float) -> Thresholds:
        return Thresholds(self.threshold(budget), self.threshold(budget, cross=True))

    def decide(self, new: Analysis, stored: Analysis, cosine: float, thresholds: Thresholds) -> Verdict:
        threshold = thresholds.cross if new.lang != stored.lang else thresholds.same
        if cosine < self.min_cosine:
            return Verdict(0.0, threshold, cosine, f"cosine {cosine:.3f} below {self.min_cosine:.2f}")
        f = feats.features(new, stored, cosine)
        p = self.probability_of(f)
        served = p >= threshold
        ranked = sorted(self.contributions(f), key=lambda kv: kv[1], reverse=served)
        why = ", ".join(LABELS.get(n, n) for n, c in ranked[:2] if (c > 0) == served)
        sign = ">=" if served else "<"
        return Verdict(p, threshold, cosine, f"p {p:.3f} {sign} {threshold:.3f} (cosine {cosine:.3f}; {why or 'no single cause'})")


@lru_cache(maxsize=128)
def _threshold(model: EquivalenceModel, budget: float, cross: bool) -> float:
    """The budget must hold on every source of calibration near misses of the stratum; a
    cross-language threshold is never below the same-language one."""
    groups = [neg for name, neg in model.calibration.items() if name.endswith("/cross") == cross]
    t = max((threshold_for_budget(neg, budget) for neg in groups), default=1.0)
    return max(t, _threshold(model, budget, False)) if cross else t


@lru_cache(maxsize=1)
def shipped() -> EquivalenceModel:
    return EquivalenceModel.load()
