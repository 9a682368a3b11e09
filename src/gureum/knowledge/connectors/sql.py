"""Rows of a SQL query as documents, through SQLAlchemy, so any database it speaks works:
`postgresql://…`, `sqlite:///…`, `mysql+pymysql://…`, … (the URL is the source URI).

Options: `query` (the SELECT, required), `id_column` ("id"; uri = the id as text),
`text_columns` (one column = its value as the text; several = "column: value" lines; default:
every column except the id and ACL columns), `title_column`, `acl_users_column` and
`acl_groups_column` (an array, or text with names separated by commas or spaces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from gureum.errors import InvalidRequest
from gureum.knowledge.connectors._acl import names
from gureum.knowledge.connectors.registry import register
from gureum.knowledge.documents import Acl, IngestError, SourceDocument

__all__ = ["SqlConnector"]

_FETCH_BATCH = 500


class SqlConnector:
    def __init__(
        self,
        uri: str,
        *,
        query: str,
        id_column: str = "id",
        text_columns: Sequence[str] | None = None,
        title_column: str | None = None,
        acl_users_column: str | None = None,
        acl_groups_column: str | None = None,
    ) -> None:
        url = make_url(uri)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # the platform ships psycopg 3, not psycopg2
        # NullPool: an ingestion run holds one connection while it streams, then closes it —
        # nothing lingers in a pool between runs.
        self._engine = create_engine(url, poolclass=NullPool)
        self._query = query.strip().rstrip(";")
        self.id_column = id_column
        self.text_columns = list(text_columns) if text_columns else None
        self.title_column = title_column
        self.acl_columns = (acl_users_column, acl_groups_column)
        self.errors: list[IngestError] = []

    def list_uris(self) -> set[str]:
        quoted = self._engine.dialect.identifier_preparer.quote(self.id_column)
        rows = self._rows(f"SELECT q.{quoted} FROM ({self._query}) AS q", [self.id_column])
        return {str(row[self.id_column]) for row in rows if row[self.id_column] is not None}

    def documents(self, want: Callable[[str], bool] | None = None) -> Iterator[SourceDocument]:
        required = [self.id_column, self.title_column, *self.acl_columns, *(self.text_columns or [])]
        for row in self._rows(self._query, required):
            if want is not None and row[self.id_column] is not None and not want(str(row[self.id_column])):
                continue
            doc = self._document(row)
            if doc is not None:
                yield doc

    def _rows(self, statement: str, required: Sequence[str | None]) -> Iterator[RowMapping]:
        try:
            with self._engine.connect() as conn:
                # yield_per streams (a server-side cursor where the driver has one) so a large
                # table never sits in memory at once.
                result = conn.execution_options(yield_per=_FETCH_BATCH).execute(text(statement))
                columns = list(result.keys())
                if missing := [c for c in required if c and c not in columns]:
                    raise InvalidRequest(f"SQL source query has no column(s) {', '.join(missing)} "
                                         f"(it returns {', '.join(columns)})", param="query")
                for row in result:
                    yield row._mapping
        except SQLAlchemyError as exc:
            raise InvalidRequest(f"SQL source query failed: {exc.__class__.__name__}: {exc}", param="query") from exc

    def _document(self, row: RowMapping) -> SourceDocument | None:
        key = row[self.id_column]
        if key is None:
            self.errors.append(IngestError("<null id>", f"a row has a NULL {self.id_column}; skipped"))
            return None
        users_col, groups_col = self.acl_columns
        columns = self.text_columns or [c for c in row if c not in (self.id_column, users_col, groups_col)]
        if len(columns) == 1:
            body = _value_text(row[columns[0]])
        else:
            body = "\n".join(f"{c}: {v}" for c in columns if (v := _value_text(row[c])))
        return SourceDocument(
            uri=str(key),
            content=body.encode("utf-8"),
            title=_value_text(row[self.title_column]) if self.title_column else "",
            media_type="text/plain",
            acl=Acl(users=names(row[users_col]) if users_col else (),
                    groups=names(row[groups_col]) if groups_col else ()),
        )


def _value_text(value: Any) -> str:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        return ""  # binary columns carry no text to index
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value)
    return str(value).strip()


for _scheme in ("postgresql", "sqlite", "mysql", "mariadb", "mssql", "oracle"):
    register(_scheme)(SqlConnector)
