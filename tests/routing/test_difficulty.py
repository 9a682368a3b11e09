"""The difficulty estimate behind `auto`: readable heuristic rules with reasons, and the
trainable ordinal logistic model (fit, censored labels, save/load, the `gureum route` CLI)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gureum.routing.difficulty import (
    FEATURES,
    HeuristicEstimator,
    LogisticEstimator,
    Sample,
    censored,
    features,
    fit,
    samples_from_jsonl,
    samples_from_routes,
)


def body(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


@pytest.mark.parametrize(
    ("content", "tier", "reason"),
    [
        ("환불 기간은 얼마나 되나요?", 1, "short, simple request"),
        ("What is the return policy?", 1, "short, simple request"),
        ("Where is your store?", 1, "short, simple request"),
        ("이 문서를 한국어로 번역해 주세요: The meeting is moved to Friday.", 2, "writing, summarising or translating"),
        ("파이썬에서 리스트를 정렬하는 함수가 뭐예요?", 2, "about programming"),
        ("Why does this fail?\n```js\nconst x = null; x.foo()\n```", 3, "contains code"),
        ("SELECT name FROM users WHERE id = 3 is slow, why?", 3, "contains code"),
        ("연 4% 복리로 1000만원을 5년 예치하면 얼마가 되는지 계산해줘", 3, "math or calculation"),
        ("Compare Kafka and RabbitMQ for our event pipeline and recommend one", 3, "analysis, comparison or design"),
        ("Prove that there are infinitely many primes.", 4, "asks for a proof or derivation"),
    ],
)
def test_heuristic_tiers_and_reasons(content: str, tier: int, reason: str) -> None:
    d = HeuristicEstimator().estimate(body(content))
    assert d.tier == tier, d.reasons
    assert reason in d.reasons


def test_steps_depth_tools_and_length_raise_the_tier() -> None:
    steps = "Do the following:\n1. read the log\n2. find the error\n3. propose a fix"
    assert "multi-step instructions (+1)" in HeuristicEstimator().estimate(body(steps)).reasons
    turns = [{"role": r, "content": "ok"} for _ in range(7) for r in ("user", "assistant")]
    deep = HeuristicEstimator().estimate({"messages": [*turns, {"role": "user", "content": "and now?"}]})
    assert deep.tier == 2 and any("deep conversation" in r for r in deep.reasons)
    tools = [{"type": "function", "function": {"name": f"t{i}"}} for i in range(6)]
    assert HeuristicEstimator().estimate(body("Book it", tools=tools)).tier == 3
    long = HeuristicEstimator().estimate(body("요약해 주세요. " + "가나다라마바사 " * 1500))
    assert long.tier >= 3 and any("very long input" in r for r in long.reasons)
    proof = HeuristicEstimator().estimate(body("Step by step, prove that sqrt(2) is irrational and derive the bound"))
    assert proof.tier == 5  # the ceiling


def test_features_are_scaled() -> None:
    f = features(body("안녕하세요, 오늘 날씨 어때요?"))
    assert set(FEATURES) <= set(f)
    assert all(0.0 <= f[name] <= 1.0 for name in FEATURES)
    assert f["korean"] == 1.0 and f["code_block"] == 0.0


def _synthetic(n: int, seed: int = 7) -> list[Sample]:
    """Ground truth: code → 3, proof → 4, else 1 (plus noise features)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        f = {name: float(rng.random() < 0.3) for name in FEATURES}
        f["log_tokens"] = rng.random()
        tier = 4 if f["proof"] else 3 if f["code_block"] else 1
        out.append(Sample(f, tier, tier))
    return out


def test_fit_recovers_a_rule_and_round_trips(tmp_path: Path) -> None:
    model = fit(_synthetic(400))
    test = _synthetic(200, seed=11)
    acc = sum(model.from_features(s.features).tier == s.low for s in test) / len(test)
    assert acc >= 0.9
    model.save(tmp_path / "m.json")
    again = LogisticEstimator.load(tmp_path / "m.json")
    assert [again.from_features(s.features).tier for s in test] == [model.from_features(s.features).tier for s in test]
    d = again.estimate(body("```py\nprint(1)\n```"))
    assert d.source == "model:m.json" and d.reasons[0].startswith("learned model:")


def test_censored_labels_only_inform_their_boundaries() -> None:
    f = {name: 0.0 for name in FEATURES}
    good = censored(f, 2, good=True)  # tier 2 was enough: tier in [1, 2]
    bad = censored(f, 2, good=False)  # tier 2 was not: tier in [3, 5]
    assert (good.low, good.high) == (1, 2) and (bad.low, bad.high) == (3, 5)
    model = fit([good] * 20 + [Sample(f, 1, 1)] * 5)
    assert model.meta["boundaries"][0]["known"] == 5  # "tier > 1" is unknown for [1, 2]
    assert model.meta["boundaries"][1]["known"] == 25


def test_training_inputs() -> None:
    lines = [
        json.dumps({"messages": [{"role": "user", "content": "hi"}], "tier": 1}),
        json.dumps({"features": {"code_block": 1.0}, "tier": 3}),
        json.dumps({"messages": [{"role": "user", "content": "x"}], "served_tier": 1, "outcome": "bad"}),
    ]
    samples = samples_from_jsonl(lines)
    assert [(s.low, s.high) for s in samples] == [(1, 1), (3, 3), (2, 5)]
    with pytest.raises(ValueError, match="line 1"):
        samples_from_jsonl([json.dumps({"messages": []})])
    route = {"deployment": "mini@x", "outcome": "good",
             "auto": {"features": {"code_block": 1.0}, "candidates": [{"id": "mini@x", "tier": 1}]}}
    assert [(s.low, s.high) for s in samples_from_routes([route, {"auto": {}}])] == [(1, 1)]


def test_cli_train_and_explain(tmp_path: Path) -> None:
    from gureum.cli import app

    data = tmp_path / "labels.jsonl"
    rows = [{"features": s.features, "tier": s.low} for s in _synthetic(120)]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = tmp_path / "weights.json"
    runner = CliRunner()
    r = runner.invoke(app, ["route", "train", "--from-jsonl", str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "trained on 120 samples" in r.output and out.exists()
    r = runner.invoke(app, ["route", "explain", "Prove Fermat's little theorem", "--model", str(out)])
    assert r.exit_code == 0 and "required tier: 4" in r.output
    r = runner.invoke(app, ["route", "explain", "Prove Fermat's little theorem"])
    assert "asks for a proof or derivation" in r.output
    r = runner.invoke(app, ["route", "train"])
    assert r.exit_code == 2
