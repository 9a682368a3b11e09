"""Parsers on real files generated here — a hand-built PDF with a Korean text layer, a python-docx
document, HTML, CP949 text and CSV — and on corrupt ones, which must fail alone with a clear
`IngestError` while the rest of the batch parses."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from gureum.knowledge.connectors import open_source
from gureum.knowledge.documents import Block, BlockKind, IngestError, ParsedDocument, SourceDocument
from gureum.knowledge.parsers import parse, register, suffixes
from gureum.knowledge.parsers.csv import ROWS_PER_BLOCK

H, P, L, T, C = BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.LIST, BlockKind.TABLE, BlockKind.CODE


def shape(parsed: ParsedDocument) -> list[tuple[BlockKind, str]]:
    return [(b.kind, b.text) for b in parsed.blocks]


def make_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF whose text layer holds `pages` (one string per line). A Type0 font with
    Identity-H encoding and a ToUnicode CMap maps each 2-byte code to the same Unicode code point,
    so pypdf extracts Korean without any embedded font program."""
    chars = sorted({ord(c) for page in pages for line in page for c in line} | {0x20})
    groups = [chars[i:i + 100] for i in range(0, len(chars), 100)]  # bfchar blocks hold ≤ 100 entries
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            + "".join(f"{len(g)} beginbfchar\n" + "".join(f"<{c:04X}> <{c:04X}>\n" for c in g) + "endbfchar\n"
                      for g in groups)
            + "endcmap CMapName currentdict /CMap defineresource pop end end").encode()
    page_ids = [6 + 2 * i for i in range(len(pages))]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(pages)} >>".encode(),
        (b"<< /Type /Font /Subtype /Type0 /BaseFont /KoreanSans /Encoding /Identity-H "
         b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>"),
        (b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /KoreanSans "
         b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>"),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(cmap), cmap),
    ]
    for page_id, lines in zip(page_ids, pages):
        ops = ("BT /F1 10 Tf 14 TL 50 800 Td\n"
               + "".join(f"<{''.join(f'{ord(c):04X}' for c in line)}> Tj T*\n" for line in lines) + "ET").encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


REGULATION_PAGES = [
    ["정보보호 규정", "제1장 총칙", "제1조(목적) 이 규정은 회사의 정보보호에 관한 사항을 정한다.", "- 1 -"],
    ["제2조(적용범위) 이 규정은 모든 임직원에게 적용한다.", "Copyright 2024 Gureum Corp.", "- 2 -"],
]


def make_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("사내 보안 규정", style="Title")
    document.add_heading("제1조(목적)", level=1)
    document.add_paragraph("이 규정은 회사 정보자산의 보호를 목적으로 한다.")
    document.add_heading("제2조(준수사항)", level=2)
    document.add_paragraph("비밀번호는 90일마다 변경한다.", style="List Bullet")
    document.add_paragraph("USB 저장장치 사용을 금지한다.", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("등급", "보관기간"), ("대외비", "5년"), ("일반", "1년")]):
        for cell, value in zip(row.cells, cells):
            cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- text


def test_text_charsets() -> None:
    body = "제1조(목적) 이 규정은 회사의 정보보호에 관한 사항을 정한다.\n\n직원은 규정을 준수한다."
    for encoded in (body.encode("utf-8"), body.encode("utf-8-sig"), body.encode("cp949"), body.encode("utf-16")):
        parsed = parse(SourceDocument("규정.txt", encoded))
        assert shape(parsed) == [(H, "제1조(목적)"), (P, "이 규정은 회사의 정보보호에 관한 사항을 정한다."),
                                 (P, "직원은 규정을 준수한다.")]


def test_text_statute_headings() -> None:
    text = ("제1장 총칙\n\n제1조(목적)\n이 규정은 목적을 정한다.\n\n제2조 (정의) 용어는 다음과 같다.\n"
            "제3조 제1항에 따라 위원회를 둔다.\n\n제2장 보칙\n제10조의2(특례) 특례를 둔다.\n\n부칙\n이 규정은 공포한 날부터 시행한다.")
    parsed = parse(SourceDocument("규정.txt", text.encode("utf-8")))
    assert [(b.kind, b.text, b.level) for b in parsed.blocks] == [
        (H, "제1장 총칙", 2), (H, "제1조(목적)", 5), (P, "이 규정은 목적을 정한다.", 0),
        (H, "제2조 (정의)", 5), (P, "용어는 다음과 같다.\n제3조 제1항에 따라 위원회를 둔다.", 0),  # a wrapped line stays text
        (H, "제2장 보칙", 2), (H, "제10조의2(특례)", 5), (P, "특례를 둔다.", 0),
        (H, "부칙", 2), (P, "이 규정은 공포한 날부터 시행한다.", 0),
    ]
    assert parsed.title == "제1장 총칙"


def test_binary_text_and_empty_files_fail() -> None:
    with pytest.raises(IngestError, match="binary content"):
        parse(SourceDocument("dump.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))))
    with pytest.raises(IngestError, match="no text found"):
        parse(SourceDocument("empty.txt", b"  \n\n "))


# ---------------------------------------------------------------- markdown


def test_markdown_structure() -> None:
    md = """---
title: 출장 규정
acl: {groups: [hr]}
---
# 출장 규정

출장은 **사전 승인**을 받아야 한다.
자세한 내용은 [인사팀 위키](https://wiki.example.com/hr)를 참고한다.

## 제1조 출장비

- 교통비: 실비 정산
  - KTX 일반실 기준
* 숙박비: 1박 *10만원* 한도

| 직급 | 일비 |
|------|-----:|
| 사원 | 3만원 |
| 임원 | 5만원 |

```python
def 일비(직급): return 3
```

정산 절차
---------

1. 영수증 첨부
2. 결재 상신
"""
    parsed = parse(SourceDocument("출장.md", md.encode()))
    assert parsed.title == "출장 규정"
    assert shape(parsed) == [
        (H, "출장 규정"),
        (P, "출장은 사전 승인을 받아야 한다.\n자세한 내용은 인사팀 위키를 참고한다."),
        (H, "제1조 출장비"),
        (L, "- 교통비: 실비 정산\n  - KTX 일반실 기준\n- 숙박비: 1박 10만원 한도"),
        (T, "직급: 사원\n일비: 3만원\n\n직급: 임원\n일비: 5만원"),
        (C, "def 일비(직급): return 3"),
        (H, "정산 절차"),
        (L, "1. 영수증 첨부\n2. 결재 상신"),
    ]
    assert [b.level for b in parsed.blocks if b.kind is H] == [1, 2, 2]


# ---------------------------------------------------------------- html


def test_html_drops_boilerplate_and_keeps_structure() -> None:
    page = """<!doctype html><html><head><title>휴가 안내</title><style>p{color:red}</style></head>
<body><header><a href="/">홈</a> 로그인</header><nav><ul><li>메뉴1</li><li>메뉴2</li></ul></nav>
<main><h1>연차 휴가</h1><p>연차는 <b>입사일</b> 기준으로<br>부여한다.</p><!-- 주석 -->
<ol><li>신청서 작성<ul><li>전자결재 이용</li></ul></li><li>팀장 승인</li></ol>
<table><thead><tr><th>근속연수</th><th>일수</th></tr></thead><tr><td>1년</td><td>15일</td></tr></table>
<pre>curl -X POST /leave</pre><div style="display: none">숨김</div><script>alert(1)</script></main>
<aside>광고</aside><footer>Copyright 2024</footer></body></html>"""
    parsed = parse(SourceDocument("leave.html", page.encode()))
    assert parsed.title == "휴가 안내"
    assert shape(parsed) == [
        (H, "연차 휴가"),
        (P, "연차는 입사일 기준으로\n부여한다."),
        (L, "1. 신청서 작성\n  - 전자결재 이용\n2. 팀장 승인"),
        (T, "근속연수: 1년\n일수: 15일"),
        (C, "curl -X POST /leave"),
    ]


def test_html_declared_euc_kr_is_read_as_cp949() -> None:
    page = '<html><head><meta charset="euc-kr"></head><body><p>똠방각하 규정</p></body></html>'
    parsed = parse(SourceDocument("old.htm", page.encode("cp949")))  # 똠 exists only in CP949
    assert shape(parsed) == [(P, "똠방각하 규정")]


# ---------------------------------------------------------------- pdf


def test_pdf_pages_and_headings() -> None:
    parsed = parse(SourceDocument("규정.pdf", make_pdf(REGULATION_PAGES)))
    assert [(b.kind, b.text, b.page) for b in parsed.blocks] == [
        (P, "정보보호 규정", 1),
        (H, "제1장 총칙", 1),
        (H, "제1조(목적)", 1),
        (P, "이 규정은 회사의 정보보호에 관한 사항을 정한다.\n- 1 -", 1),  # cleaning drops the page number
        (H, "제2조(적용범위)", 2),
        (P, "이 규정은 모든 임직원에게 적용한다.\nCopyright 2024 Gureum Corp.\n- 2 -", 2),
    ]


def test_pdf_encrypted_truncated_and_fake() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(REGULATION_PAGES))))
    writer.encrypt(user_password="비밀", algorithm="AES-128")
    locked = io.BytesIO()
    writer.write(locked)
    with pytest.raises(IngestError, match="password-protected"):
        parse(SourceDocument("locked.pdf", locked.getvalue()))

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(REGULATION_PAGES))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")  # copy-protected only
    open_pdf = io.BytesIO()
    writer.write(open_pdf)
    assert "제1조(목적)" in [b.text for b in parse(SourceDocument("open.pdf", open_pdf.getvalue())).blocks]

    whole = make_pdf(REGULATION_PAGES)
    with pytest.raises(IngestError, match="corrupt or truncated PDF") as err:
        parse(SourceDocument("cut.pdf", whole[: len(whole) // 2]))
    assert err.value.uri == "cut.pdf"
    with pytest.raises(IngestError, match="not a PDF"):
        parse(SourceDocument("fake.pdf", "PDF 아님".encode()))


# ---------------------------------------------------------------- docx


def test_docx_headings_lists_tables() -> None:
    parsed = parse(SourceDocument("보안.docx", make_docx()))
    assert parsed.title == "사내 보안 규정"
    assert [(b.kind, b.text, b.level) for b in parsed.blocks] == [
        (H, "제1조(목적)", 1),
        (P, "이 규정은 회사 정보자산의 보호를 목적으로 한다.", 0),
        (H, "제2조(준수사항)", 2),
        (L, "- 비밀번호는 90일마다 변경한다.\n- USB 저장장치 사용을 금지한다.", 0),
        (T, "등급: 대외비\n보관기간: 5년\n\n등급: 일반\n보관기간: 1년", 0),
    ]


def test_zip_that_is_not_docx_fails() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "워드 문서가 아님")
    with pytest.raises(IngestError, match=r"not a Word \.docx file"):
        parse(SourceDocument("가짜.docx", buffer.getvalue()))
    with pytest.raises(IngestError, match=r"not a Word \.docx file"):
        parse(SourceDocument("깨진.docx", b"PK\x03\x04 broken"))


# ---------------------------------------------------------------- csv and json


def test_csv_korean_cp949_semicolons() -> None:
    rows = "이름;부서;내선\n홍길동;인사팀;1234\n김영희;;5678\n"
    parsed = parse(SourceDocument("직원.csv", rows.encode("cp949")))
    assert shape(parsed) == [(T, "이름: 홍길동\n부서: 인사팀\n내선: 1234\n\n이름: 김영희\n내선: 5678")]


def test_csv_rows_grouped_into_blocks() -> None:
    lines = ["사번,이름"] + [f"{n},직원{n}" for n in range(ROWS_PER_BLOCK * 2 + 5)]
    parsed = parse(SourceDocument("big.csv", "\n".join(lines).encode()))
    assert [b.text.count("\n\n") + 1 for b in parsed.blocks] == [ROWS_PER_BLOCK, ROWS_PER_BLOCK, 5]
    assert parsed.blocks[2].text.startswith(f"사번: {ROWS_PER_BLOCK * 2}\n이름: 직원{ROWS_PER_BLOCK * 2}")


def test_json_flattening() -> None:
    data = [{"id": 1, "제목": "연차", "내용": {"일수": 15, "이월": False}, "태그": ["인사", "휴가"], "비고": None},
            {"id": 2, "담당": [{"이름": "김"}, {"이름": "이"}]}]
    parsed = parse(SourceDocument("faq.json", json.dumps(data, ensure_ascii=False).encode()))
    assert shape(parsed) == [
        (T, "id: 1\n제목: 연차\n내용.일수: 15\n내용.이월: false\n태그: 인사, 휴가"),
        (T, "id: 2\n담당[0].이름: 김\n담당[1].이름: 이"),
    ]
    lines = '{"q": "재택?", "a": "주 2회"}\n\n"자유 텍스트"\n'
    assert shape(parse(SourceDocument("faq.jsonl", lines.encode()))) == [(T, "q: 재택?\na: 주 2회"), (P, "자유 텍스트")]
    with pytest.raises(IngestError, match="line 2"):
        parse(SourceDocument("bad.jsonl", b'{"a": 1}\n{"a": \n'))
    with pytest.raises(IngestError, match="invalid JSON at line 1"):
        parse(SourceDocument("bad.json", b'{"a": }'))


# ---------------------------------------------------------------- registry


def test_lookup_by_suffix_then_media_type() -> None:
    row = SourceDocument("42", "질문: 연차는?\n답변: 15일".encode(), media_type="text/plain")  # a SQL row
    assert shape(parse(row)) == [(P, "질문: 연차는?\n답변: 15일")]
    labelled = SourceDocument("page", b"<h2>\xec\xa0\x9c\xeb\xaa\xa9</h2>", media_type="text/html; charset=utf-8")
    assert shape(parse(labelled)) == [(H, "제목")]
    mislabelled = SourceDocument("note.md", "# 회의록".encode(), media_type="text/plain")  # the name wins
    assert shape(parse(mislabelled)) == [(H, "회의록")]
    with pytest.raises(IngestError, match=r"unsupported file type \.hwp"):
        parse(SourceDocument("규정.hwp", b"HWP Document File"))
    assert {".pdf", ".docx", ".md", ".html", ".csv", ".json", ".txt"} <= set(suffixes())


def test_extension_parsers_register_like_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    import gureum.knowledge.parsers.registry as registry

    monkeypatch.setattr(registry, "_BY_SUFFIX", dict(registry._BY_SUFFIX))

    @register(".memo")
    def parse_memo(doc: SourceDocument) -> ParsedDocument:
        return ParsedDocument(doc, [Block(P, doc.content.decode())])

    assert shape(parse(SourceDocument("a.memo", "메모".encode()))) == [(P, "메모")]


def test_a_batch_reports_each_bad_file_and_parses_the_rest(tmp_path: Path) -> None:
    whole = make_pdf(REGULATION_PAGES)
    files: dict[str, bytes] = {
        "규정.pdf": whole,
        "보안.docx": make_docx(),
        "안내.html": "<h1>안내</h1><p>사내 안내문</p>".encode(),
        "직원.csv": "이름,부서\n홍길동,인사팀\n".encode("cp949"),
        "옛문서.txt": "제1조(목적) 옛 규정".encode("cp949"),
        "잘림.pdf": whole[: len(whole) // 2],
        "가짜.docx": b"PK\x05\x06" + bytes(18),  # an empty zip
        "그림.txt": bytes(range(256)) * 4,
        "규정.hwp": b"HWP Document File",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    parsed, errors = {}, {}
    for doc in open_source(str(tmp_path)).documents():
        try:
            parsed[doc.uri] = parse(doc)
        except IngestError as exc:
            errors[exc.uri] = exc.message
    assert set(parsed) == {"규정.pdf", "보안.docx", "안내.html", "직원.csv", "옛문서.txt"}
    assert set(errors) == {"잘림.pdf", "가짜.docx", "그림.txt", "규정.hwp"}
    assert "truncated" in errors["잘림.pdf"] and "docx" in errors["가짜.docx"]
    assert "binary" in errors["그림.txt"] and "unsupported" in errors["규정.hwp"]
    assert parsed["옛문서.txt"].blocks[0].text == "제1조(목적)"
