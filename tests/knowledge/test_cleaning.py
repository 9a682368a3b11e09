"""Cleaning rules on blocks shaped like real extraction output (PDF page furniture, NFD Hangul
from macOS, web-page whitespace)."""

from __future__ import annotations

import unicodedata

from gureum.knowledge.cleaning import clean
from gureum.knowledge.documents import Block, BlockKind

H, P, L, T, C = BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.LIST, BlockKind.TABLE, BlockKind.CODE


def texts(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks]


def test_nfc_composes_decomposed_hangul() -> None:
    decomposed = unicodedata.normalize("NFD", "정보보호 규정")
    assert decomposed != "정보보호 규정"
    assert texts(clean([Block(P, decomposed)])) == ["정보보호 규정"]


def test_whitespace_and_invisible_characters() -> None:
    raw = "사내\u00a0규정은\r\n  모든\u200b 직원에게\t\t적용된다.\u3000\r\n\ufeff(시행\u00ad일 참조)"
    assert texts(clean([Block(P, raw)])) == ["사내 규정은 모든 직원에게 적용된다. (시행일 참조)"]


def test_code_keeps_indentation_and_lists_keep_nesting() -> None:
    code = Block(C, "def f():\r\n\tif x:  \r\n        return 1\n")
    items = Block(L, "- 교통비:   실비\n  - KTX\u00a0일반실\n- 숙박비")
    table = Block(T, "이름: 홍길동\n\n\n\n이름: 김영희  ")
    assert texts(clean([code, items, table])) == [
        "def f():\n\tif x:\n        return 1", "- 교통비: 실비\n  - KTX 일반실\n- 숙박비", "이름: 홍길동\n\n이름: 김영희"]


def test_empty_blocks_are_dropped() -> None:
    blocks = [Block(H, "\u200b", level=1), Block(P, " \n\u00a0"), Block(P, "본문"), Block(T, "\n\n")]
    assert texts(clean(blocks)) == ["본문"]


def test_page_numbers_are_dropped() -> None:
    lines = ["- 3 -", "— 12 —", "Page 3 of 10", "page 4", "3 / 10", "3쪽", "- 4 페이지 -", "페이지 5/10"]
    blocks = [Block(P, f"제{n}조의 내용이다.\n{line}", page=n) for n, line in enumerate(lines, 1)]
    assert texts(clean(blocks)) == [f"제{n}조의 내용이다." for n in range(1, len(lines) + 1)]
    # Only prose carries page furniture; a table cell "3 / 10" is data.
    assert texts(clean([Block(T, "점수 | 3 / 10")])) == ["점수 | 3 / 10"]


def test_repeated_copyright_and_running_headers_are_kept_once() -> None:
    blocks = []
    for page in range(1, 5):
        blocks.append(Block(P, f"구름 주식회사 대외비\n{page}쪽 본문입니다.\nCopyright 2024 Gureum Corp.", page=page))
    blocks.append(Block(P, "두 쪽에만 나오는 문장\n끝", page=5))
    blocks.append(Block(P, "두 쪽에만 나오는 문장\n정말 끝", page=6))
    assert texts(clean(blocks)) == [
        "구름 주식회사 대외비 1쪽 본문입니다. Copyright 2024 Gureum Corp.",
        "2쪽 본문입니다.", "3쪽 본문입니다.", "4쪽 본문입니다.",
        "두 쪽에만 나오는 문장 끝", "두 쪽에만 나오는 문장 정말 끝",  # on fewer than 3 pages: not furniture
    ]


def test_duplicate_paragraphs_are_removed_but_short_ones_and_headings_stay() -> None:
    notice = "이 문서는 사내 한정으로 배포되며 외부 유출을 금지한다."
    blocks = [
        Block(H, "개요", level=2), Block(P, notice), Block(P, "해당 없음."),
        Block(H, "개요", level=2), Block(P, notice.replace(" ", "  ")), Block(P, "해당 없음."),
    ]
    assert texts(clean(blocks)) == ["개요", notice, "해당 없음.", "개요", "해당 없음."]


def test_input_blocks_are_not_modified_and_fields_are_kept() -> None:
    block = Block(H, "  제1조(목적)  ", level=5, page=2)
    (cleaned,) = clean([block])
    assert block.text == "  제1조(목적)  "
    assert (cleaned.kind, cleaned.text, cleaned.level, cleaned.page) == (H, "제1조(목적)", 5, 2)
