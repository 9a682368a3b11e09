"""Chunking policy: sections never mix, structure stays whole when it fits, Korean paragraphs
split at kiwipiepy sentence boundaries with overlap, and offsets always point at the chunk text."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from gureum.knowledge import chunking
from gureum.knowledge.chunking import chunk, document_text
from gureum.knowledge.cleaning import clean
from gureum.knowledge.documents import Block, BlockKind, ChunkDraft, ParsedDocument, SourceDocument
from gureum.knowledge.parsers import parse
from gureum.tokens import estimate_tokens
from tests.knowledge.test_parsers import REGULATION_PAGES, make_pdf

H, P, L, T, C = BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.LIST, BlockKind.TABLE, BlockKind.CODE

SENTENCES = [
    "이 규정은 회사의 정보자산을 보호하기 위하여 필요한 사항을 정한다.",
    "정보자산이란 회사가 보유한 모든 전자적 정보와 그 처리 설비를 말한다.",
    "모든 임직원은 입사 시 보안 서약서를 제출하여야 한다.",
    "비밀번호는 영문, 숫자, 특수문자를 조합하여 10자 이상으로 설정한다.",
    "외부 저장매체는 정보보호책임자의 승인을 받은 경우에만 사용할 수 있다.",
    "위반 사항이 발견되면 인사위원회에 회부하여 징계할 수 있다.",
]


def words(text: str) -> int:
    return len(text.split())


def doc(*blocks: Block) -> ParsedDocument:
    return ParsedDocument(SourceDocument("규정.md", b""), list(blocks))


def run(parsed: ParsedDocument, **kw: object) -> list[ChunkDraft]:
    """Chunk and check the invariants every chunk must hold."""
    kw.setdefault("token_count", estimate_tokens)
    chunks = chunk(parsed, **kw)  # type: ignore[arg-type]
    full = document_text(parsed)
    count = kw["token_count"]
    for n, c in enumerate(chunks):
        assert c.ordinal == n
        assert full[c.start:c.end] == c.text and c.text.strip() == c.text and c.text
        assert c.tokens == count(c.text) <= kw.get("max_tokens", 256)  # type: ignore[operator]
    return chunks


def test_document_text_joins_blocks_with_a_blank_line() -> None:
    blocks = [Block(H, "제1조", level=1), Block(P, "본문")]
    assert document_text(blocks) == document_text(doc(*blocks)) == "제1조\n\n본문"


def test_sections_never_mix_and_carry_their_heading_path() -> None:
    parsed = doc(
        Block(H, "정보보호 규정", level=1),
        Block(P, "총칙 설명."),
        Block(H, "제1장 총칙", level=2),
        Block(H, "제1조(목적)", level=3), Block(P, SENTENCES[0]),
        Block(H, "제2조(정의)", level=3), Block(P, SENTENCES[1]), Block(P, SENTENCES[2]),
        Block(H, "제2장 보칙", level=2), Block(P, SENTENCES[3]),
    )
    chunks = run(parsed)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (["정보보호 규정"], "총칙 설명."),
        (["정보보호 규정", "제1장 총칙", "제1조(목적)"], SENTENCES[0]),
        (["정보보호 규정", "제1장 총칙", "제2조(정의)"], SENTENCES[1] + "\n\n" + SENTENCES[2]),  # small blocks pack
        (["정보보호 규정", "제2장 보칙"], SENTENCES[3]),
    ]


def test_a_leaf_heading_without_content_is_its_own_chunk() -> None:
    parsed = doc(
        Block(H, "제1장 총칙", level=2),  # a parent: its children carry it, no chunk of its own
        Block(H, "제1조(목적)", level=5), Block(P, SENTENCES[0]),
        Block(H, "제2조(삭제)", level=5),
        Block(H, "제3조(시행)", level=5),
    )
    chunks = run(parsed)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (["제1장 총칙", "제1조(목적)"], SENTENCES[0]),
        (["제1장 총칙", "제2조(삭제)"], "제2조(삭제)"),
        (["제1장 총칙", "제3조(시행)"], "제3조(시행)"),
    ]


def test_korean_paragraph_splits_at_sentences_with_overlap() -> None:
    paragraph = " ".join(SENTENCES * 2)
    chunks = run(doc(Block(H, "제1조", level=1), Block(P, paragraph)), max_tokens=80, overlap=40)
    assert len(chunks) > 3
    sentence_ends = {m.end() for m in re.finditer(r"다\.", paragraph)}
    offset = len("제1조\n\n")
    for c in chunks:
        assert c.text.endswith("다.") and c.end - offset in sentence_ends  # cut only after a sentence
    for prev, nxt in pairwise(chunks):
        assert nxt.start < prev.end  # the overlap: trailing sentences of prev open nxt
        carried = document_text(doc(Block(H, "제1조", level=1), Block(P, paragraph)))[nxt.start:prev.end]
        assert estimate_tokens(carried) <= 40
    assert chunks[-1].end == offset + len(paragraph)


def test_no_overlap_when_asked_for_none() -> None:
    chunks = run(doc(Block(P, " ".join(SENTENCES))), max_tokens=80, overlap=0)
    assert all(nxt.start > prev.end for prev, nxt in pairwise(chunks))


def test_english_paragraph_uses_the_punctuation_rule_and_no_kiwi(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_kiwi() -> None:
        raise AssertionError("Kiwi is used only when Korean text needs it")

    monkeypatch.setattr(chunking, "analyser", no_kiwi)
    text = "Access is granted per role. Reviews happen quarterly! Are logs kept? Yes, for one year."
    chunks = run(doc(Block(P, text)), max_tokens=8, overlap=0, token_count=words)
    assert [c.text for c in chunks] == ["Access is granted per role. Reviews happen quarterly!",
                                        "Are logs kept? Yes, for one year."]


def test_table_stays_whole_when_it_fits_and_splits_by_rows_when_not() -> None:
    rows = [f"이름: 직원{n}\n부서: 인사팀\n내선: {1000 + n}" for n in range(12)]
    small = Block(T, "\n\n".join(rows[:2]))
    limit = max(estimate_tokens(small.text), estimate_tokens(SENTENCES[0])) + 2
    assert estimate_tokens(document_text([Block(P, SENTENCES[0]), small])) > limit
    chunks = run(doc(Block(P, SENTENCES[0]), small), max_tokens=limit)
    assert [c.text for c in chunks] == [SENTENCES[0], small.text]  # does not fit beside the paragraph

    chunks = run(doc(Block(T, "\n\n".join(rows))), max_tokens=60)
    assert len(chunks) > 1
    for c in chunks:
        assert all(part in rows for part in c.text.split("\n\n"))  # whole rows only, none carried twice
    assert sum(c.text.count("이름:") for c in chunks) == len(rows)


def test_long_list_splits_by_items_keeping_nested_lines() -> None:
    items = [f"- 항목 {n}: 보안 점검 결과를 기록한다\n  - 세부 {n}: 담당자가 서명한다" for n in range(10)]
    chunks = run(doc(Block(L, "\n".join(items))), max_tokens=50)
    assert len(chunks) > 1
    for c in chunks:
        assert c.text.startswith("- 항목") and c.text.endswith("서명한다")


def test_code_splits_by_lines() -> None:
    code = "\n".join(f"print('줄 {n}')" for n in range(40))
    chunks = run(doc(Block(C, code)), max_tokens=30, overlap=0)
    assert len(chunks) > 1 and all(c.text.startswith("print(") and c.text.endswith("')") for c in chunks)


def test_overlong_sentences_and_words_are_cut_hard() -> None:
    no_punctuation = " ".join(["보안점검"] * 60)
    chunks = run(doc(Block(P, no_punctuation)), max_tokens=20, overlap=5)
    assert len(chunks) > 5 and all(c.text.startswith("보안점검") for c in chunks)
    blob = "가" * 100
    chunks = run(doc(Block(P, blob)), max_tokens=30, overlap=0)
    assert [len(c.text) for c in chunks] == [30, 30, 30, 10]


def test_page_is_the_first_blocks_page() -> None:
    parsed = doc(Block(P, SENTENCES[0], page=3), Block(P, SENTENCES[1], page=4), Block(P, SENTENCES[2], page=4))
    chunks = run(parsed, max_tokens=70)
    assert [(c.page, c.text.count("다.")) for c in chunks] == [(3, 2), (4, 1)]


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        chunk(doc(Block(P, "본문")), max_tokens=32, overlap=32, token_count=words)


def test_parse_clean_chunk_a_real_pdf() -> None:
    parsed = parse(SourceDocument("규정.pdf", make_pdf(REGULATION_PAGES)))
    parsed.blocks = clean(parsed.blocks)
    chunks = run(parsed)
    assert [(c.heading_path, c.page, c.text) for c in chunks] == [
        ([], 1, "정보보호 규정"),
        (["제1장 총칙", "제1조(목적)"], 1, "이 규정은 회사의 정보보호에 관한 사항을 정한다."),  # "- 1 -" is gone
        (["제1장 총칙", "제2조(적용범위)"], 2, "이 규정은 모든 임직원에게 적용한다. Copyright 2024 Gureum Corp."),
    ]
