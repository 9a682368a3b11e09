"""From a false-hit budget to a threshold (and back on the calibration fold the shipped model
keeps), per-tenant and per-collection overrides, and the live shadow estimate that tightens a
tenant's threshold — against a scripted sequence of comparison outcomes."""

from __future__ import annotations

import random

import pytest

from gureum.cache.calibration import ShadowEstimate, served_share, threshold_for_budget, tighten, wilson
from gureum.cache.decision import shipped
from gureum.cache.keys import policy_for
from gureum.cache.settings import CacheSettings


@pytest.mark.parametrize("budget", [0.0, 0.005, 0.01, 0.02, 0.05, 0.2])
def test_threshold_meets_the_budget_on_its_fold(budget: float) -> None:
    rng = random.Random(3)
    negatives = [rng.random() ** 3 for _ in range(400)]
    t = threshold_for_budget(negatives, budget)
    assert served_share(negatives, t) <= budget
    # …and it is the lowest such threshold: the next near miss down would break the budget.
    below = max((n for n in negatives if n < t), default=None)
    if below is not None:
        assert served_share(negatives, below) > budget


def test_threshold_edges() -> None:
    assert threshold_for_budget([], 0.01) == 1.0  # nothing known: serve nothing
    assert threshold_for_budget([0.2, 0.4], 1.0) == 0.0
    assert threshold_for_budget([0.2, 0.4, 0.9], 0.0) > 0.9


def test_shipped_model_meets_each_budget_on_each_calibration_source() -> None:
    model = shipped()
    previous = 1.0
    for budget in (0.0, 0.005, 0.01, 0.02, 0.05, 0.1):
        t = model.thresholds(budget)
        for stratum, negatives in model.calibration.items():
            assert served_share(negatives, t.cross if stratum.endswith("/cross") else t.same) <= budget, stratum
        assert t.same <= previous and t.cross >= t.same  # a larger budget never raises the threshold
        previous = t.same
    assert {"written/same", "written/cross", "klue/same"} <= set(model.calibration)


def test_tenant_and_collection_overrides() -> None:
    s = CacheSettings.model_validate({
        "false_hit_budget": 0.01,
        "tenants": {"strict": {"false_hit_budget": 0.0}, "fixed": {"threshold": 0.99}, "loose": {"false_hit_budget": 0.05}},
        "collections": {"legal": {"threshold": 0.999}},
    })
    assert policy_for(s, "any", "m").false_hit_budget == 0.01 and policy_for(s, "any", "m").threshold is None
    assert policy_for(s, "strict", "m").false_hit_budget == 0.0
    assert policy_for(s, "fixed", "m").threshold == 0.99
    assert policy_for(s, "loose", "rag/legal").threshold == 0.999  # the collection is more specific
    model = shipped()
    assert model.threshold(0.0) >= model.threshold(0.01) >= model.threshold(0.05)
    with pytest.raises(ValueError):
        CacheSettings.model_validate({"tenants": {"x": {"false_hit_budget": 1.5}}})


def test_wilson_interval() -> None:
    low, high = wilson(5, 100)
    assert 0.0 < low < 0.05 < high < 0.12
    assert wilson(0, 0) == (0.0, 1.0)


def test_shadow_estimate_tightens_only_when_confidently_over_budget() -> None:
    est = ShadowEstimate(window=200, min_compared=30)
    budget = 0.01
    # A scripted model whose answers differ from the cached ones 1 time in 10.
    script = [i % 10 == 0 for i in range(29)]
    for wrong in script:
        est.record("t1", wrong)
    e = est.estimate("t1", budget)
    assert e.compared == 29 and not e.over_budget and e.effective_budget == budget  # too few yet
    for i in range(29, 120):
        est.record("t1", i % 10 == 0)
    e = est.estimate("t1", budget)
    assert e.over_budget and e.low > budget
    assert e.effective_budget == pytest.approx(budget * budget / e.rate) and e.effective_budget < budget
    model = shipped()
    base = model.threshold(budget)
    tight = tighten(base, model.threshold(e.effective_budget), budget, e.effective_budget)
    assert base < tight < 1.0
    assert tighten(base, base, budget, budget) == base
    # Another tenant is untouched; a tenant whose hits agree is not tightened.
    for _ in range(200):
        est.record("t2", False)
    assert not est.estimate("t2", budget).over_budget
    assert est.estimate("t3", budget).compared == 0
    # The window forgets: after enough agreeing comparisons t1 is back within budget.
    for _ in range(200):
        est.record("t1", False)
    assert not est.estimate("t1", budget).over_budget


async def test_the_cache_uses_the_tightened_threshold(database_url: str) -> None:
    from gureum.cache.service import ResponseCache
    from gureum.store.engine import open_store

    st = await open_store(None, database_url, pool_size=1, migrate=False)  # type: ignore[arg-type]
    try:
        settings = CacheSettings.model_validate({"shadow_min_compared": 10, "tenants": {"fixed": {"threshold": 0.9}}})
        cache = ResponseCache(settings, st.engine)
        base = cache.thresholds("acme", cache.policy("acme", "m"))
        assert base == shipped().thresholds(0.01)
        for i in range(40):
            cache.record_shadow("acme", wrong=i % 4 == 0)
        tight = cache.thresholds("acme", cache.policy("acme", "m"))
        assert tight.same > base.same and tight.cross > base.cross
        assert cache.thresholds("other", cache.policy("other", "m")) == base
        assert cache.thresholds("fixed", cache.policy("fixed", "m")) == (0.9, 0.9)  # a fixed threshold is the tenant's word
    finally:
        await st.engine.dispose()
