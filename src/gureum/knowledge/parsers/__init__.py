"""Parsers turn a `SourceDocument`'s bytes into structural blocks (headings, paragraphs, lists,
tables, code). One registry maps file suffixes and media types to a parser; the built-ins below
register through the same `register` hook an extension uses.

Block text conventions every parser follows, so cleaning and chunking need no format knowledge:
a LIST block has one item per line ("- item", "1. item", nested items indented); a TABLE block has
one row per line, or — when rows are rendered as "header: value" lines — rows separated by a blank
line; a CODE block keeps its lines verbatim. Paragraphs may keep their source line breaks;
cleaning joins them.
"""

# The built-ins register on import, exactly like an extension would.
from gureum.knowledge.parsers import csv, docx, html, json, markdown, pdf, text  # noqa: E402, F401
from gureum.knowledge.parsers.registry import Parser, media_type_for, parse, register, suffixes

__all__ = ["Parser", "media_type_for", "parse", "register", "suffixes"]
