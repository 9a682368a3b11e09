"""Every rule: a declared platform that triggers it (at the offending key's line) and the clean
one that does not. The clean base triggers nothing but the worst-case cost figures (info)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gureum.checklist import engine, load
from gureum.checklist.declared import DeclaredPlatform, KeyView
from gureum.checklist.model import RULES, Severity
from gureum.checklist.rules import security
from tests.checklist.helpers import BASE, check, config, line_of, of, write

FALLBACK_ABROAD = config(routing__fallbacks={"claude": ["haiku", "gpt-4o"]}, governance__tenants__acme={"residency": ["kr-only"]})
EU_TENANT = {"acme": {"residency": ["kr-only"], "allowed_models": ["smart", "claude", "haiku"]},
             "euco": {"residency": ["eu-only"]}, "globex": {"allowed_models": ["gpt-4o", "smart"]}}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")


def test_clean_platform_has_only_cost_figures(tmp_path: Path) -> None:
    findings = check(tmp_path, BASE)
    assert {f.rule for f in findings} == {"CST005"}
    assert all(f.effective(RULES[f.rule]) is Severity.INFO for f in findings)
    assert len(engine.rules()) - len(engine.META) == 25


# (rule, changes to BASE, text the finding's line holds, severity)
CASES: list[tuple[str, dict[str, Any], str | None, Severity]] = [
    ("WRK001", config(database_url=None), None, Severity.WARNING),
    ("WRK002", config(redis_url=None), "governance:", Severity.ERROR),
    ("WRK003", config(virtual_models={"smart": {"candidates": ["claude", "nothing"], "strategy": "cost"}}),
     "- nothing", Severity.ERROR),
    ("GRV001", FALLBACK_ABROAD, "- gpt-4o", Severity.WARNING),
    ("GRV002", config(governance__tenants__acme={"residency": ["kr-only"], "allowed_models": ["smart", "gpt-4o"]}),
     "allowed_models:", Severity.ERROR),
    ("GRV003", config(collections=[{**BASE["collections"][0], "embedder": "oa-embed"}]), "embedder: oa-embed",
     Severity.ERROR),
    ("GRV004", config(governance__tenants=EU_TENANT), "database: kr", Severity.ERROR),
    ("GRV005", config(check={"regions": {"database": "us", "redis": "kr"}}), "database: us", Severity.ERROR),
    ("GRV006", config(governance__tenants__globex={"allowed_models": ["gpt-4o"],
                                                  "pii": {"by_region": {"us": {"EMAIL": "allow"}}}}),
     "pii:", Severity.ERROR),
    ("GRV007", config(collections=[{**BASE["collections"][0], "pii_policy": "allow"}]), "pii_policy: allow",
     Severity.ERROR),
    ("GRV008", config(collections=[{**BASE["collections"][0], "embedder": "kr-embed"}],
                      governance__tenants__acme={**BASE["governance"]["tenants"]["acme"],
                                                 "pii": {"by_region": {"kr": {"EMAIL": "allow"}}}}),
     "embedder: kr-embed", Severity.WARNING),
    ("GRV009", config(governance__tenants__acme={"residency": ["kr_only"]}), "- kr_only", Severity.WARNING),
    ("SEC002", config(governance__pii_enabled=False), "pii_enabled:", Severity.ERROR),
    ("SEC003", config(governance__tenants__globex={"allowed_models": ["gpt-4o"], "pii": {"default": {"*": "allow"}}}),
     "pii:", Severity.ERROR),
    ("SEC005", config(providers__openai={"kind": "openai", "api_key": "sk-proj-written-here"}), "api_key:",
     Severity.ERROR),
    ("SEC006", config(collections=[{"name": "handbook", "tenant": "acme", "embedder": "local-embed"}]),
     "- name: handbook", Severity.WARNING),
    ("SEC007", config(governance__leak_check=False, governance__pii={"default": {"*": "mask", "KR_RRN": "block"}}),
     "leak_check:", Severity.WARNING),
    ("CST001", config(governance__defaults={"tpm": 100000}), "smart:", Severity.WARNING),
    ("CST002", config(virtual_models={"smart": {"candidates": ["claude", "haiku"]}},
                      deployments__1={**BASE["deployments"][1], "tier": 4}), "smart:", Severity.WARNING),
    ("CST003", config(deployments__2={**BASE["deployments"][2], "price": {"input": 0, "output": 0}}),
     "- name: gpt-4o", Severity.WARNING),
    ("CST004", config(governance__defaults={"budgets": [{"scope": "user", "period": "day", "limit": 5}]}),
     "acme:", Severity.WARNING),
    ("CST006", config(governance__fail_open=True), "fail_open:", Severity.WARNING),
]


@pytest.mark.parametrize(("rule", "data", "needle", "severity"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_at_the_offending_key(tmp_path: Path, rule: str, data: dict[str, Any], needle: str | None,
                                         severity: Severity) -> None:
    findings = check(tmp_path, data)
    hits = of(findings, rule)
    assert hits, f"{rule} did not fire: {[(f.rule, f.message) for f in findings]}"
    f = hits[0]
    assert f.effective(RULES[rule]) is severity
    assert f.message and f.fix and f.where
    if needle is not None:
        assert f.line == line_of(tmp_path / "gureum.yaml", needle), (f.line, f.message)
        assert f.column is not None and f.column >= 1
    assert not of(check(tmp_path, BASE), rule)


def test_fallback_leak_names_the_chain(tmp_path: Path) -> None:
    [f] = of(check(tmp_path, FALLBACK_ABROAD), "GRV001")
    assert "claude → fallback gpt-4o → gpt-4o@openai (us)" in f.message and "kr-only" in f.message
    assert f.where == "tenants.acme:claude:gpt-4o@openai"


def test_cache_shared_across_tenants_regions(tmp_path: Path) -> None:
    findings = of(check(tmp_path, config(governance__tenants=EU_TENANT)), "GRV004")
    assert [f.where for f in findings] == ["tenants.euco:cache:database", "tenants.euco:cache:redis"]
    assert "redis in kr, a store shared with acme" in findings[1].message
    undeclared = of(check(tmp_path, config(governance__tenants=EU_TENANT, check=None)), "GRV004")
    assert {f.effective(RULES["GRV004"]) for f in undeclared} == {Severity.WARNING}
    assert {f.where for f in undeclared} == {"tenants.acme:cache:redis", "tenants.euco:cache:redis",
                                             "tenants.acme:cache:database", "tenants.euco:cache:database"}
    off = config(governance__tenants=EU_TENANT, cache={"tenants": {"euco": {"enabled": False}}})
    assert not of(check(tmp_path, off), "GRV004")


def test_worst_case_follows_the_tightest_bound(tmp_path: Path) -> None:
    by_tpm = config(governance__defaults={"tpm": 1000, "budgets": [{"scope": "tenant", "period": "month", "limit": 5000}]})
    [f] = [f for f in of(check(tmp_path, by_tpm), "CST005") if f.where == "tenants.acme"]
    # 1000 tokens/min × 43,800 min × the highest token price reachable (claude output: 15 per 1M)
    assert "657.00 USD" in f.message and "tpm 1000" in f.message
    by_rpm = config(governance__defaults={"rpm": 1})
    [g] = [f for f in of(check(tmp_path, by_rpm), "CST005") if f.where == "tenants.acme"]
    # 1 request/min × 43,800 × (4096 output × 15 + 4096 input × 3) / 1M
    assert f"{43800 * (4096 * 15 + 4096 * 3) / 1e6:,.2f} USD" in g.message


def test_flow_stages_complete_in_the_real_platform(tmp_path: Path) -> None:
    found = security.flow_stages()
    assert found is not None and [n for n, _ in found[1]][0] == "Audit"
    assert not of(check(tmp_path, BASE), "SEC001")


def test_flow_missing_guard_or_out_of_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path, _ = security.flow_stages()  # type: ignore[misc]
    source = path.read_text(encoding="utf-8")
    no_guard = "\n".join(line for line in source.splitlines() if not line.strip().startswith("Guard("))
    monkeypatch.setattr(security, "flow_stages", lambda: (path, security.stage_list(no_guard)))
    [f] = of(check(tmp_path, BASE), "SEC001")
    assert "no Guard stage" in f.message and f.file == str(path) and f.line
    swapped = source.replace("Audit(recorder),", "AUDIT_TMP,").replace("Identify(keys),", "Audit(recorder),")
    swapped = swapped.replace("AUDIT_TMP,", "Identify(keys),")
    monkeypatch.setattr(security, "flow_stages", lambda: (path, security.stage_list(swapped)))
    messages = [f.message for f in of(check(tmp_path, BASE), "SEC001")]
    assert any("Audit runs before" not in m and "Identify" in m for m in messages), messages


def test_keys_without_expiry_on_the_running_platform(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from gureum.checklist import load

    base = load.from_file(write(tmp_path, config(check={"key_max_days": 30, "regions": {"database": "kr", "redis": "kr"}})))
    now = datetime.now(UTC)
    keys = [KeyView("key_never", "acme", "member", now, None, False),
            KeyView("key_long", "acme", "member", now, now + timedelta(days=365), False),
            KeyView("key_ok", "acme", "member", now, now + timedelta(days=7), False),
            KeyView("key_gone", "acme", "member", now, None, True)]
    p = DeclaredPlatform(base.settings, base.origin, base.source, base.collections, keys)
    assert sorted(f.where for f in of(engine.run(p), "SEC004")) == ["keys.key_long", "keys.key_never"]
    assert not of(engine.run(base), "SEC004")  # keys live in the store: only --live knows them


def test_an_agent_is_a_stateful_workload_whose_model_must_stay_in_residency(tmp_path: Path) -> None:
    from gureum.checklist.workloads import workloads

    agent = {"name": "helper", "tenant": "acme", "model": "gpt-4o", "tools": [{"name": "knowledge_search"}]}
    data = config(agents=[agent], governance__tenants__acme={"residency": ["kr-only"]})
    [f] = of(check(tmp_path, data), "GRV002")
    assert "'gpt-4o'" in f.message and "gpt-4o@openai (us)" in f.message
    assert not of(check(tmp_path, config(agents=[{**agent, "model": "smart"}],
                                         governance__tenants__acme={"residency": ["kr-only"]})), "GRV002")
    declared = load.from_file(write(tmp_path, data))
    shapes = {w.kind: w.shape for w in workloads(declared)}
    assert shapes["agents"] == "stateful" and shapes["jobs"] == "batch"
