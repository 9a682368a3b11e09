"""The index on a real PostgreSQL: hybrid search, BM25 in SQL, atomic replace, statistics."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gureum.config import Settings
from gureum.knowledge import collections, index
from gureum.knowledge.ingest import Ingestor
from gureum.knowledge.retrieve import Options, retrieve
from gureum.platform import Platform
from gureum.store import Store
from tests.knowledge.conftest import doc, embedder

DOCS = [
    doc("seoul.txt", "서울은 대한민국의 수도이며 한강이 도시를 가로지른다. 인구는 약 940만 명이다.", title="서울"),
    doc("busan.txt", "부산은 대한민국 제2의 도시이자 최대의 항구 도시이다. 해운대 해수욕장이 유명하다.", title="부산"),
    doc("kimchi.txt", "김치는 배추와 무를 소금에 절여 고춧가루, 마늘, 젓갈로 양념한 발효 음식이다.", title="김치"),
    doc("python.txt", "Python is a programming language that emphasises code readability with significant indentation.",
        title="Python"),
    doc("postgres.txt", "PostgreSQL is an open-source relational database with extensions such as pgvector for "
        "vector similarity search.", title="PostgreSQL"),
]


@pytest.fixture(scope="module")
async def col(store: Store, kn_settings: Settings, platform: Platform) -> collections.Collection:
    c = await collections.create(store.engine, kn_settings, "t1", "basics")
    await Ingestor(store.engine, c, embedder(platform, c)).run(DOCS)
    return c


async def _q(platform: Platform, c: collections.Collection, query: str, **kw: object) -> list[index.Hit]:
    vector = (await embedder(platform, c).embed_queries([query]))[0]
    return await retrieve(platform.store.engine, c, ["*"], query, vector, Options(**kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
async def test_finds_the_right_document(store: Store, kn_settings: Settings, col: collections.Collection, mode: str, platform: Platform) -> None:
    hits = await _q(platform, col, "한국의 수도는 어디인가?", mode=mode, k=3)
    assert hits[0].uri == "seoul.txt"
    hits = await _q(platform, col, "which database supports vector search?", mode=mode, k=3)
    assert hits[0].uri == "postgres.txt"


async def test_bm25_in_sql_matches_the_formula(store: Store, kn_settings: Settings, col: collections.Collection, platform: Platform) -> None:
    import math

    hits = await _q(platform, col, "김치 발효", mode="lexical", k=1)
    async with store.engine.connect() as conn:
        n, total = (await conn.execute(text("SELECT sum(n_chunks), sum(total_len) FROM acl_sets WHERE collection_id=:c"),
                                       {"c": col.id})).one()
        dl = (await conn.execute(text("SELECT length FROM chunks WHERE id=:i"), {"i": hits[0].chunk_id})).scalar_one()
        tfs = dict((await conn.execute(text("SELECT term, tf FROM chunk_terms WHERE chunk_id=:i"),
                                       {"i": hits[0].chunk_id})).all())
    n, total = int(n), int(total)
    avgdl = total / n
    expected = 0.0
    for term in ("김치", "발효"):
        df = 1
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        tf = tfs[term]
        expected += idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))
    assert hits[0].lexical == pytest.approx(expected, rel=1e-6)


async def test_unchanged_is_a_no_op_and_changed_replaces(store: Store, kn_settings: Settings,
                                                         col: collections.Collection, platform: Platform) -> None:
    emb = embedder(platform, col)
    report = await Ingestor(store.engine, col, emb).run(DOCS)
    assert (report.added, report.updated, report.unchanged) == (0, 0, len(DOCS))
    changed = doc("kimchi.txt", "김치찌개는 김치와 돼지고기를 넣고 끓인 찌개이다.", title="김치")
    report = await Ingestor(store.engine, col, emb).run([changed])
    assert report.updated == 1
    hits = await _q(platform, col, "돼지고기 찌개", mode="lexical", k=5)
    assert hits[0].uri == "kimchi.txt" and "찌개" in hits[0].text
    assert not await _q(platform, col, "배추 젓갈 양념", mode="lexical", k=5) or all(
        "배추" not in h.text for h in await _q(platform, col, "배추 젓갈 양념", mode="lexical", k=5))
    async with store.engine.connect() as conn:
        stats = (await conn.execute(text(
            "SELECT (SELECT sum(n_chunks) FROM acl_sets WHERE collection_id=:c), (SELECT count(*) FROM chunks WHERE "
            "collection_id=:c), (SELECT sum(total_len) FROM acl_sets WHERE collection_id=:c), (SELECT sum(length) FROM "
            "chunks WHERE collection_id=:c), (SELECT count(*) FROM term_stats WHERE collection_id=:c AND df <= 0)"),
            {"c": col.id})).one()
        df_ok = (await conn.execute(text(
            "SELECT count(*) FROM (SELECT term, sum(df) AS df FROM term_stats WHERE collection_id=:c GROUP BY term) s "
            "FULL JOIN (SELECT term, count(*) AS df FROM chunk_terms WHERE collection_id=:c GROUP BY term) p "
            "USING (term) WHERE s.df IS DISTINCT FROM p.df"), {"c": col.id})).scalar_one()
    assert stats[0] == stats[1] and stats[2] == stats[3] and stats[4] == 0
    assert df_ok == 0


def test_lexical_terms_and_sentences() -> None:
    from gureum.knowledge import lexical

    assert lexical.terms("임세영은 정육점을 경영하던 사람이었다.") == ["임세영", "정육점", "경영", "사람"]
    assert lexical.terms("The teams represented their cities") == ["team", "repres", "citi"]
    assert "먹다" in lexical.terms("밥을 먹었다") and "아름답다" in lexical.terms("아름다운 꽃")
    sents, words = lexical.analyze("서울은 수도이다. 한강이 흐른다! Seoul is big. It has 10 million people.")
    assert sents == ["서울은 수도이다.", "한강이 흐른다!", "Seoul is big.", "It has 10 million people."]
    assert words == lexical.terms("서울은 수도이다. 한강이 흐른다! Seoul is big. It has 10 million people.")
