"""PDF (.pdf) via pypdf: the text layer of each page, split into paragraphs at blank lines, with
Korean statute headings lifted out (see `text_blocks`); every block keeps its 1-based page so a
citation can point at it. An encrypted PDF opens only if its user password is empty."""

from __future__ import annotations

from io import BytesIO

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from gureum.knowledge.documents import Block, IngestError, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.registry import register
from gureum.knowledge.parsers.text import text_blocks

__all__: list[str] = []


@register(".pdf", media_types=("application/pdf",))
def parse_pdf(doc: SourceDocument) -> ParsedDocument:
    if b"%PDF-" not in doc.content[:1024]:  # the header may follow a little junk, per the spec
        raise IngestError(doc.uri, "not a PDF file (no %PDF- header)")
    try:
        return _read(doc)
    except PdfReadError as exc:
        raise IngestError(doc.uri, f"corrupt or truncated PDF ({exc})") from exc


def _read(doc: SourceDocument) -> ParsedDocument:
    reader = PdfReader(BytesIO(doc.content))
    # Many PDFs are "encrypted" only to restrict printing or copying, with an empty user
    # password; those open. A real password we do not have is the file's error.
    if reader.is_encrypted and not reader.decrypt(""):
        raise IngestError(doc.uri, "the PDF is password-protected")
    blocks: list[Block] = []
    for number, page in enumerate(reader.pages, 1):
        blocks.extend(text_blocks(page.extract_text() or "", page=number))
    title = str(reader.metadata.title or "") if reader.metadata else ""
    return ParsedDocument(doc, blocks, title=title.strip())
