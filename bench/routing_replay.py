"""Cost-aware routing and caches on a replayed mixed workload.

A seeded generator builds a realistic mix (defaults: 600 requests, Korean and English): FAQ
questions drawn with Zipf popularity from the paraphrase groups of bench/data/cache_pairs.jsonl
(so exact repeats and paraphrases occur the way they do in support traffic), short writing and
translation tasks, long documents to summarise, code questions, math and analysis, proofs and
multi-step designs, questions that are hard without saying so, and multi-turn support chats.
Every request carries the tier its category needs (the label).

It is replayed through a real gureum (in-process server, embedded PostgreSQL) against fake
OpenAI-compatible upstreams priced like real model classes; the fake answers echo the question
and report usage from gureum.tokens, with a fixed answer length, so every configuration pays for
the same tokens. Three configurations:

1. `strong`: every request to the strongest deployment (what a single-model setup pays);
2. `auto`: the `auto` virtual model (strategy `cost`), caches off;
3. `auto+cache`: `auto` with the exact and semantic caches on;
4. `strong+cache` (for reference): the caches alone, without routing.

Reported per configuration: total cost (from the ledger), the distribution over tiers, cache hits,
and the quality proxy: the fraction of requests answered by a deployment whose tier is at least
the request's labelled tier (a cache hit counts with the tier of the deployment that produced
the stored answer; a semantic hit whose stored question is not a paraphrase of the asked one
counts as wrong).

    .venv/bin/python bench/routing_replay.py [--requests 600] [--seed 7] [--json bench/results/routing_replay.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from _common import database_url  # noqa: E402

from gureum.tokens import estimate_messages, estimate_tokens  # noqa: E402
from tests.support.servers import serve_app  # noqa: E402

ADMIN = "sk-bench-admin-0001"
# Public list prices (USD per 1M tokens) of the model classes each tier stands for.
TIERS = [
    # name, tier, input, output, stands for
    ("lite", 1, 0.15, 0.60, "gpt-4o-mini class"),
    ("small", 2, 0.40, 1.60, "gpt-4.1-mini class"),
    ("standard", 3, 2.50, 10.00, "gpt-4o class"),
    ("frontier", 5, 15.00, 75.00, "claude-opus class"),
]
ANSWER_WORDS = 120  # every fake answer has the same length

# --- the workload -------------------------------------------------------------------------------

WRITING = [
    ("이 문장을 영어로 번역해 주세요: {x}", "ko"), ("다음 공지를 세 줄로 요약해 주세요: {x}", "ko"),
    ("Translate into Korean: {x}", "en"), ("Draft a short, polite reply to this customer: {x}", "en"),
]
WRITING_X = ["배송이 이틀 지연되어 죄송합니다.", "The office will be closed on Friday for maintenance.",
             "신규 요금제가 다음 달부터 적용됩니다.", "Your refund was approved and will arrive in 3 days.",
             "회의실 예약 시스템이 새로 바뀌었습니다.", "We noticed a login from a new device."]
CODE = [
    ("이 파이썬 함수가 왜 틀린 값을 반환하나요?\n```python\ndef {f}(xs):\n    total = 0\n    for x in xs:\n        total =+ x\n    return total\n```", "ko"),
    ("Why is this query slow and how do I fix it?\n```sql\nSELECT * FROM orders o JOIN users u ON u.id = o.user_id WHERE lower(u.email) = '{f}@example.com';\n```", "en"),
    ("Fix the bug:\n```js\nfunction {f}(items) {{\n  return items.map(i => {{ i.price * 1.1 }});\n}}\n```", "en"),
    ("다음 Go 코드에서 데이터 레이스가 나는 이유를 설명해 주세요.\n```go\nfunc {f}() {{\n  n := 0\n  for i := 0; i < 10; i++ {{ go func() {{ n++ }}() }}\n}}\n```", "ko"),
]
MATH = [
    ("연 {a}% 복리로 {b}만원을 {c}년 예치하면 얼마가 되는지 계산해 주세요.", "ko"),
    ("Calculate the monthly payment of a {b}0,000 loan at {a}% over {c} years.", "en"),
    ("Compare PostgreSQL and MongoDB for an order system with {b} writes per second and recommend one.", "en"),
    ("우리 서비스에 Kafka와 RabbitMQ 중 무엇이 맞는지 장단점을 비교해 주세요. 초당 메시지 {b}건입니다.", "ko"),
]
HARD = [
    ("Prove that the sum of the first {c} odd numbers is a perfect square, then generalise.", "en"),
    ("다음 정리를 증명해 주세요: 소수는 무한히 많다. 그리고 {c}번째 소수의 상한을 유도해 주세요.", "ko"),
    (("Design a multi-region payment system step by step:\n1. data model\n2. consistency strategy\n3. failover plan "
      "for {c} regions\n4. cost estimate"), "en"),
]
IMPLICIT = [  # hard, but without the words the heuristic looks for
    ("우리 팀이 다음 분기에 무엇부터 해야 할지 정리해 주세요. 인력은 {c}명이고 과제가 많습니다.", "ko"),
    ("Our churn went up {a}% after the price change. What should we do next quarter?", "en"),
]
DOC_SENTENCES = {
    "ko": ["본 계약은 서비스 제공자와 고객 간의 권리와 의무를 정한다.", "고객은 월 이용료를 매월 10일까지 납부해야 한다.",
           "서비스 장애가 4시간 이상 지속되면 이용료의 10%를 감면한다.", "개인정보는 관련 법령에 따라 안전하게 처리한다.",
           "계약 해지 시 30일 전에 서면으로 통지해야 한다.", "분쟁이 발생하면 서울중앙지방법원을 관할 법원으로 한다."],
    "en": ["This agreement sets out the rights and duties of the provider and the customer.",
           "Fees are due on the tenth day of each month.", "Outages longer than four hours earn a 10% credit.",
           "Personal data is processed in line with applicable law.", "Either party may terminate with 30 days notice.",
           "Disputes are settled by the courts of Seoul."],
}
CHAT_TURNS = {
    "ko": [("주문한 상품이 아직 안 왔어요.", "주문 번호를 알려주시겠어요?"), ("A-{c}입니다.", "확인해 보니 어제 출고되었습니다."),
           ("언제 도착하나요?", "보통 1~2일 걸립니다."), ("주소를 바꿀 수 있나요?", "출고 후에는 택배사에 요청하셔야 합니다."),
           ("택배사 번호는요?", "1588-0000입니다."), ("포장이 파손되면요?", "사진과 함께 접수해 주세요."),
           ("알겠습니다. 환불은 얼마나 걸려요?", "승인 후 3영업일입니다.")],
    "en": [("My order has not arrived.", "Could you share the order number?"), ("It is A-{c}.", "It shipped yesterday."),
           ("When will it arrive?", "Usually within two days."), ("Can I change the address?", "Ask the carrier after dispatch."),
           ("What is their number?", "1-800-000."), ("What if the box is damaged?", "Send us photos."),
           ("OK. How long do refunds take?", "Three business days after approval.")],
}


def faq_groups() -> list[list[str]]:
    rows = [json.loads(x) for x in (ROOT / "bench/data/cache_pairs.jsonl").read_text(encoding="utf-8").splitlines() if x]
    return [[r["a"], r["b"]] for r in rows if r["label"] == "same"]


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    groups = faq_groups()
    weights = [1 / (i + 1) ** 1.1 for i in range(len(groups))]  # Zipf popularity
    order = list(range(len(groups)))
    rng.shuffle(order)
    mix = [("faq", 0.45), ("writing", 0.08), ("doc", 0.07), ("code", 0.12), ("math", 0.10), ("hard", 0.05),
           ("implicit", 0.04), ("chat", 0.09)]
    out: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.choices([k for k, _ in mix], [w for _, w in mix])[0]
        a, b, c, f = rng.randint(2, 9), rng.randint(10, 99), rng.randint(3, 12), f"fn{rng.randint(100, 999)}"
        req: dict[str, Any] = {"i": i, "kind": kind}
        if kind == "faq":
            g = order[rng.choices(range(len(groups)), weights)[0]]
            text = rng.choice(groups[g])
            req |= {"messages": [{"role": "user", "content": text}], "tier": 1, "group": g}
        elif kind == "writing":
            tpl, _ = rng.choice(WRITING)
            req |= {"messages": [{"role": "user", "content": tpl.format(x=rng.choice(WRITING_X))}], "tier": 2}
        elif kind == "doc":
            lang = rng.choice(["ko", "en"])
            size = rng.choice([250, 600, 1500])  # sentences: ~3k, ~7k, ~18k tokens
            body = " ".join(rng.choice(DOC_SENTENCES[lang]) for _ in range(size))
            ask = "위 계약서의 핵심 위험 요소를 요약해 주세요." if lang == "ko" else "Summarise the key risks in this contract."
            content = f"{body}\n\n{ask}"
            tokens = estimate_tokens(content)
            req |= {"messages": [{"role": "user", "content": content}], "tier": 3 if tokens > 8000 else 2}
        elif kind in ("code", "math", "hard", "implicit"):
            pool = {"code": CODE, "math": MATH, "hard": HARD, "implicit": IMPLICIT}[kind]
            tpl, _ = rng.choice(pool)
            tier = {"code": 3, "math": 3, "hard": 4, "implicit": 3}[kind]
            req |= {"messages": [{"role": "user", "content": tpl.format(a=a, b=b, c=c, f=f)}], "tier": tier}
        else:
            lang = rng.choice(["ko", "en"])
            depth = rng.randint(2, 7)
            msgs: list[dict[str, Any]] = []
            for u, asst in CHAT_TURNS[lang][: depth - 1]:
                msgs += [{"role": "user", "content": u.format(c=c)}, {"role": "assistant", "content": asst}]
            msgs.append({"role": "user", "content": CHAT_TURNS[lang][depth - 1][0].format(c=c)})
            req |= {"messages": msgs, "tier": 2 if depth >= 6 else 1}
        out.append(req)
    return out


# --- the fake upstream ----------------------------------------------------------------------------

def upstream_app() -> Starlette:
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        last = body["messages"][-1]["content"]
        question = last if len(last) < 300 else last[-120:]
        text = f"[{question}] " + " ".join(["answer"] * ANSWER_WORDS)
        usage = {"prompt_tokens": estimate_messages(body["messages"]), "completion_tokens": estimate_tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return JSONResponse({"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": 0,
                             "model": body["model"], "usage": usage,
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


# --- replay ---------------------------------------------------------------------------------------

def settings_for(config: str, db: str, up: str, work: Path) -> Any:
    from gureum.config import load_settings

    deployments = [{"name": n, "provider": "up", "model": n, "tier": t, "region": "us", "context_window": 128_000,
                    "price": {"input": i, "output": o}, "description": d} for n, t, i, o, d in TIERS]
    return load_settings(
        use_file=False, data_dir=work, database_url=db, admin_key=ADMIN,
        providers={"up": {"kind": "openai", "base_url": f"{up}/v1", "api_key": "x", "timeout": 30}},
        deployments=deployments,
        virtual_models={"auto": {"candidates": [t[0] for t in TIERS], "strategy": "cost"}},
        cache={"enabled": config.endswith("+cache"), "semantic_timeout": 30, "store_timeout": 5},
    )


def replay(config: str, workload: list[dict[str, Any]], up: str, work: Path) -> dict[str, Any]:
    from gureum.app import create_app

    db = database_url()
    tier_of = {f"{n}@up": t for n, t, *_ in TIERS}
    model = "frontier" if config.startswith("strong") else "auto"
    by_question: dict[str, int] = {}  # FAQ text -> group, to judge semantic hits
    for r in workload:
        if r["kind"] == "faq":
            by_question[r["messages"][-1]["content"]] = r["group"]
    results = []
    started = time.perf_counter()
    with serve_app(create_app(settings_for(config, db, up, work / config))) as base, \
            httpx.Client(base_url=base, timeout=120, headers={"authorization": f"Bearer {ADMIN}"}) as http:
        for r in workload:
            resp = http.post("/v1/chat/completions", json={"model": model, "messages": r["messages"], "temperature": 0})
            resp.raise_for_status()
            cache = resp.headers.get("x-gureum-cache")
            dep = resp.headers.get("x-gureum-cache-origin") if cache in ("exact", "semantic") else resp.headers.get(
                "x-gureum-deployment")
            served = tier_of.get(dep or "", 0)
            ok = served >= r["tier"]
            if cache == "semantic":
                echoed = re.match(r"\[(.*?)\] answer", resp.json()["choices"][0]["message"]["content"], re.DOTALL)
                stored = echoed.group(1) if echoed else ""
                ok = ok and by_question.get(stored) == r.get("group")
            results.append({"kind": r["kind"], "tier": r["tier"], "served": served, "cache": cache
                            if cache in ("exact", "semantic") else None, "ok": ok})
    elapsed = time.perf_counter() - started
    with psycopg.connect(db) as conn:
        cost, saved, routing, n = conn.execute(
            "SELECT sum(cost), sum(cost_saved), sum(coalesce((route->>'saved_vs_strongest')::float, 0)), count(*) "
            "FROM ledger WHERE endpoint = 'chat'").fetchone()  # type: ignore[misc]
    n_req = len(results)
    return {
        "config": config, "requests": n_req, "ledger_rows": n, "cost": float(cost or 0), "cache_saved": float(saved or 0),
        "routing_saved": float(routing or 0), "seconds": round(elapsed, 1),
        "tiers": dict(sorted(Counter(x["served"] for x in results if not x["cache"]).items())),
        "cache_hits": dict(Counter(x["cache"] for x in results if x["cache"])),
        "quality_proxy": sum(x["ok"] for x in results) / n_req,
        "under_tier": sum(not x["ok"] for x in results),
        "under_tier_by_kind": dict(Counter(x["kind"] for x in results if not x["ok"])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    workload = generate(args.requests, args.seed)
    kinds = Counter(r["kind"] for r in workload)
    labels = Counter(r["tier"] for r in workload)
    faq = [r for r in workload if r["kind"] == "faq"]
    repeats = len(faq) - len({r["messages"][-1]["content"] for r in faq})
    print(f"workload: {len(workload)} requests (seed {args.seed}); kinds {dict(kinds)}; labelled tiers "
          f"{dict(sorted(labels.items()))}; FAQ exact repeats {repeats}, FAQ groups {len({r['group'] for r in faq})}")
    work = ROOT / "bench/.work/replay" / uuid.uuid4().hex[:6]
    out = []
    with serve_app(upstream_app()) as up:
        for config in ("strong", "auto", "auto+cache", "strong+cache"):
            res = replay(config, workload, up, work)
            out.append(res)
            print(json.dumps(res, ensure_ascii=False), flush=True)
    base = out[0]["cost"]
    print(f"\n{'config':<12} {'cost USD':>10} {'vs strong':>10} {'quality proxy':>14} {'tiers (fresh calls)':<34} cache hits")
    for r in out:
        tiers = ", ".join(f"t{k}:{v}" for k, v in r["tiers"].items())
        print(f"{r['config']:<12} {r['cost']:>10.4f} {r['cost'] / base:>10.1%} {r['quality_proxy']:>14.1%} "
              f"{tiers:<34} {r['cache_hits'] or '-'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": args.seed, "requests": len(workload), "kinds": kinds,
                                         "labelled_tiers": labels, "prices": TIERS, "results": out}, indent=1,
                                        ensure_ascii=False))


if __name__ == "__main__":
    main()
