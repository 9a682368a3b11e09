"""How capable a model does a request need? A transparent estimate of the required quality tier
(1 basic … 5 frontier) from the request alone, with the reasons that set it.

Two estimators share one feature set (`features`):

- `HeuristicEstimator` (the default): readable rules — long input, code, math and proofs,
  multi-step instructions, analysis, deep conversations, tools, structured output.
- `LogisticEstimator`: an ordinal logistic model (one logistic regression per boundary
  "tier > k", k = 1..4) over the same features, fitted from logged outcomes or a labelled file
  (`gureum route train`) and loaded from JSON (`economy.difficulty_model`).

Both return a `Difficulty` whose `reasons` say in words what raised the tier.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gureum.messages import content_text
from gureum.tokens import estimate_messages

MIN_TIER, MAX_TIER = 1, 5

FEATURES: tuple[str, ...] = (
    "log_tokens", "long_input", "very_long_input", "code_block", "code_words", "math", "proof", "multi_step",
    "reasoning", "writing", "turns", "tools", "json_schema", "long_output", "korean",
)

_FENCE = re.compile(r"```|~~~")
_CODE = re.compile(  # topic words that are about programming in any sentence
    r"\b(python|javascript|typescript|golang|kotlin|sql|bash|shell script|dockerfile|kubernetes|yaml|json|regex|"
    r"traceback|stack ?trace|exception|compiler?|debug(?:ging)?|refactor(?:ing)?|unit tests?|source code|code|"
    r"api|bug|null pointer|segfault)\b|코드|함수|버그|디버그|리팩터|리팩토링|쿼리|스크립트|컴파일|에러 로그|예외 처리|정규식",
    re.IGNORECASE,
)
_CODE_KEYWORD = re.compile(  # a keyword followed by an identifier and syntax: `def add(`, `class Foo:`
    r"\b(def|class|import|from|return|const|let|var|fn|func|impl|struct|interface|public|private|lambda)\s+\w+\s*[(:={<.]"
)
_SQL = re.compile(r"\bSELECT\b[\s\S]+?\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bCREATE\s+TABLE\b")
_CODE_SYNTAX = re.compile(r"[{};]\s*$|=>|->|::|\w+\(.*\)\s*[:{]|#include|</?\w+>", re.MULTILINE)
_MATH = re.compile(
    r"\d\s*[-+*/^×÷=]\s*\d|\\frac|\\int|\\sum|√|∫|∑|\b(calculate|compute|solve|equation|integral|derivative|"
    r"probability|expected value|variance|matrix|eigen|optimi[sz]e|interest rate of|compound)\b|계산|풀어|방정식|"
    r"확률|미분|적분|행렬|기댓값|분산|최적화|수식",
    re.IGNORECASE,
)
_PROOF = re.compile(r"\b(prove|proof|derive|theorem|lemma)\b|증명|유도하|정리를 보여", re.IGNORECASE)
_STEPS = re.compile(
    r"step[- ]by[- ]step|\bfirst\b.*\bthen\b|\bthen\b.*\bfinally\b|단계별|단계로|먼저.*(다음|그리고|그 ?후)|순서대로|"
    r"차근차근",
    re.IGNORECASE | re.DOTALL,
)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•]|[①-⑩])\s+\S", re.MULTILINE)
_REASON = re.compile(
    r"\b(analy[sz]e|analysis|compare|comparison|evaluate|trade-?offs?|pros and cons|design|architect|strategy|"
    r"critique|assess|recommend(?:ation)?s? for|root cause|plan for|reason about)\b|분석|비교|평가|"
    r"장단점|설계|아키텍처|전략|원인|검토|타당성|추론|왜 그런",
    re.IGNORECASE,
)
_WRITING = re.compile(
    r"\b(write|draft|compose|essay|report|proposal|summari[sz]e|translate|rewrite|article|blog post|cover letter)\b|"
    r"작성|요약|번역|보고서|기획서|제안서|초안|에세이|기사|소설",
    re.IGNORECASE,
)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")




def features(body: dict[str, Any]) -> dict[str, float]:
    """The request's features, each scaled to about [0, 1]."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tools = body.get("tools") or []
    tokens = estimate_messages(messages, tools or None)
    users = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    last = users[-1] if users else content_text(body.get("query") or "")
    recent = "\n".join(users[-2:]) if users else last
    max_out = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    rf = body.get("response_format") or {}
    letters = len(re.findall(r"[A-Za-z\uac00-\ud7a3]", last)) or 1
    return {
        "log_tokens": min(1.0, math.log1p(tokens) / math.log(100_000)),
        "long_input": float(tokens > 2_000),
        "very_long_input": float(tokens > 8_000),
        "code_block": float(bool(_FENCE.search(recent) or _SQL.search(recent) or _CODE_KEYWORD.search(recent)
                                 or len(_CODE_SYNTAX.findall(recent)) >= 2)),
        "code_words": float(bool(_CODE.search(recent))),
        "math": float(bool(_MATH.search(recent))),
        "proof": float(bool(_PROOF.search(recent))),
        "multi_step": float(bool(_STEPS.search(last)) or len(_LIST_ITEM.findall(last)) >= 3),
        "reasoning": float(bool(_REASON.search(last))),
        "writing": float(bool(_WRITING.search(last))),
        "turns": min(len(users), 10) / 10.0,
        "tools": min(len(tools), 10) / 10.0,
        "json_schema": float(isinstance(rf, dict) and rf.get("type") == "json_schema"),
        "long_output": float(isinstance(max_out, int) and max_out > 2_000),
        "korean": float(len(_HANGUL.findall(last)) / letters >= 0.3),
        "_tokens": float(tokens),  # unscaled, for explanations only (not a model input)
    }


@dataclass(frozen=True, slots=True)
class Difficulty:
    tier: int
    reasons: list[str]
    features: dict[str, float] = field(default_factory=dict)
    source: str = "heuristic"

    def explain(self) -> dict[str, Any]:
        return {"tier": self.tier, "reasons": self.reasons, "source": self.source,
                "features": {k: round(v, 3) for k, v in self.features.items() if v}}


class Estimator(Protocol):
    def estimate(self, body: dict[str, Any]) -> Difficulty: ...


class HeuristicEstimator:
    """Readable rules; each one that fires raises the tier to at least its level and says why."""

    def estimate(self, body: dict[str, Any]) -> Difficulty:
        f = features(body)
        return self.from_features(f)

    def from_features(self, f: dict[str, float]) -> Difficulty:
        tier = MIN_TIER
        reasons: list[str] = []

        def at_least(level: int, why: str) -> None:
            nonlocal tier
            reasons.append(why)
            tier = max(tier, level)

        tokens = int(f.get("_tokens", 0))
        if f["very_long_input"]:
            at_least(3, f"very long input (~{tokens} tokens)")
        elif f["long_input"]:
            at_least(2, f"long input (~{tokens} tokens)")
        if f["code_block"]:
            at_least(3, "contains code")
        elif f["code_words"]:
            at_least(2, "about programming")
        if f["proof"]:
            at_least(4, "asks for a proof or derivation")
        elif f["math"]:
            at_least(3, "math or calculation")
        if f["reasoning"]:
            at_least(3, "analysis, comparison or design")
        if f["writing"]:
            at_least(2, "writing, summarising or translating")
        if f["tools"] >= 0.5:
            at_least(3, f"{round(f['tools'] * 10)} tools to choose from")
        elif f["tools"]:
            at_least(2, "tool use")
        if f["json_schema"]:
            at_least(2, "structured (JSON schema) output")
        if f["long_output"]:
            at_least(2, "long answer requested")
        bumps = []
        if f["multi_step"]:
            bumps.append("multi-step instructions")
        if f["turns"] >= 0.6:
            bumps.append(f"deep conversation ({round(f['turns'] * 10)} user turns)")
        if (f["code_block"] or f["code_words"]) and (f["reasoning"] or f["multi_step"]):
            bumps.append("code with design or several steps")
        if bumps:  # one step up however many of these apply
            reasons.append(" and ".join(bumps) + " (+1)")
            tier += 1
        tier = max(MIN_TIER, min(MAX_TIER, tier))
        if not reasons:
            reasons.append("short, simple request")
        return Difficulty(tier, reasons, {k: v for k, v in f.items()}, "heuristic")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@dataclass
class LogisticEstimator:
    """Ordinal logistic model: P(required tier > k) = sigmoid(w_k · x + b_k) for k = 1..4; the tier
    is 1 + the number of boundaries whose probability is at least 0.5."""

    weights: list[list[float]]  # 4 rows × len(FEATURES)
    bias: list[float]
    features: tuple[str, ...] = FEATURES
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "model"

    def probabilities(self, f: dict[str, float]) -> list[float]:
        x = [f.get(name, 0.0) for name in self.features]
        return [_sigmoid(sum(w * v for w, v in zip(row, x, strict=True)) + b) for row, b in zip(self.weights, self.bias, strict=True)]

    def estimate(self, body: dict[str, Any]) -> Difficulty:
        return self.from_features(features(body))

    def from_features(self, f: dict[str, float]) -> Difficulty:
        probs = self.probabilities(f)
        tier = MIN_TIER + sum(p >= 0.5 for p in probs)
        k = max(0, tier - 2)  # the last boundary passed (or the first one, for tier 1)
        x = [f.get(name, 0.0) for name in self.features]
        contrib = sorted(
            ((w * v, name) for w, v, name in zip(self.weights[k], x, self.features, strict=True) if w * v),
            reverse=tier > MIN_TIER,
        )
        top = [f"{name} ({c:+.2f})" for c, name in contrib[:3]]
        boundary = f"P(tier>{k + 1})={probs[k]:.2f}"
        reasons = [f"learned model: {boundary}", *top] if top else [f"learned model: {boundary}"]
        return Difficulty(tier, reasons, dict(f), self.source)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "ordinal-logistic", "features": list(self.features), "weights": self.weights,
                "bias": self.bias, "meta": self.meta}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LogisticEstimator:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("kind") != "ordinal-logistic":
            raise ValueError(f"{path}: not a gureum difficulty model (kind={data.get('kind')!r})")
        names = tuple(data["features"])
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown features {sorted(unknown)}")
        return cls(data["weights"], data["bias"], names, data.get("meta") or {}, f"model:{Path(path).name}")


@dataclass(frozen=True, slots=True)
class Sample:
    """One training example: the features and the interval the required tier lies in.
    A labelled request gives [t, t]; "tier t was good enough" gives [1, t]; "tier t was not"
    gives [t + 1, 5]."""

    features: dict[str, float]
    low: int
    high: int


def fit(samples: Sequence[Sample], *, l2: float = 0.01, epochs: int = 2000, lr: float = 0.5) -> LogisticEstimator:
    """Fit the four boundary models by gradient descent on the log loss (censored samples only
    inform the boundaries they decide)."""
    import numpy as np

    if not samples:
        raise ValueError("no training samples")
    X = np.array([[s.features.get(name, 0.0) for name in FEATURES] for s in samples], dtype=float)
    weights: list[list[float]] = []
    bias: list[float] = []
    counts: list[dict[str, int]] = []
    for k in range(MIN_TIER, MAX_TIER):
        y = np.array([1.0 if s.low > k else 0.0 if s.high <= k else np.nan for s in samples])
        known = ~np.isnan(y)
        Xk, yk = X[known], y[known]
        w = np.zeros(X.shape[1])
        b = 0.0
        if len(yk) and 0 < yk.sum() < len(yk):
            for _ in range(epochs):
                p = 1.0 / (1.0 + np.exp(-(Xk @ w + b)))
                g = p - yk
                w -= lr * (Xk.T @ g / len(yk) + l2 * w)
                b -= lr * float(g.mean())
        elif len(yk):  # one class only: a constant boundary
            b = 4.0 if yk.mean() > 0.5 else -4.0
        else:
            b = -4.0
        weights.append([round(float(v), 5) for v in w])
        bias.append(round(float(b), 5))
        counts.append({"known": int(known.sum()), "above": int(np.nansum(y))})
    return LogisticEstimator(weights, bias, FEATURES, {"samples": len(samples), "boundaries": counts, "l2": l2})


def samples_from_jsonl(lines: Iterable[str]) -> list[Sample]:
    """Labelled requests: {"messages": [...], "tools"?: [...], "tier": 3} (or "features" instead
    of a body; or "served_tier" + "outcome": "good"|"bad" for censored labels)."""
    out: list[Sample] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = json.loads(line)
        f = row.get("features") or features(row)
        if "tier" in row:
            t = int(row["tier"])
            out.append(Sample(f, t, t))
        elif "served_tier" in row and row.get("outcome") in ("good", "bad"):
            out.append(censored(f, int(row["served_tier"]), row["outcome"] == "good"))
        else:
            raise ValueError(f"line {n}: needs 'tier', or 'served_tier' with outcome good|bad")
    return out


def censored(f: dict[str, float], served_tier: int, good: bool) -> Sample:
    return Sample(f, MIN_TIER, served_tier) if good else Sample(f, min(MAX_TIER, served_tier + 1), MAX_TIER)


def load_estimator(path: Path | None) -> Estimator:
    return LogisticEstimator.load(path) if path else HeuristicEstimator()


def samples_from_routes(routes: Iterable[dict[str, Any]]) -> list[Sample]:
    """Training samples from ledger route JSON of `auto` requests labelled with an outcome: the
    tier that served it was good enough ("good") or not ("bad")."""
    out: list[Sample] = []
    for route in routes:
        auto = route.get("auto") or {}
        served = route.get("deployment")
        tier = next((c.get("tier") for c in auto.get("candidates") or [] if c.get("id") == served), None)
        if tier is None or route.get("outcome") not in ("good", "bad") or not auto.get("features"):
            continue
        f = {name: float(auto["features"].get(name, 0.0)) for name in FEATURES}
        out.append(censored(f, int(tier), route["outcome"] == "good"))
    return out
