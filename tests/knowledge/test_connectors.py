"""Connectors against real sources: a real folder tree, a real S3-compatible server (moto's
server mode on loopback), the machine's PostgreSQL and a SQLite file. One contract suite runs
against every implementation; each then has tests for its own ACL sources and options."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import GeneratorType
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest

from gureum.errors import InvalidRequest
from gureum.knowledge.connectors import Connector, open_source, register, schemes
from gureum.knowledge.documents import Acl, SourceDocument

PG_URL = os.environ.get("GUREUM_TEST_SOURCE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

REGULATION = "# 정보보호 규정\n\n## 제1조(목적)\n\n이 규정은 회사의 정보보호에 관한 사항을 정한다.\n"


class ConnectorContract:
    """What every connector promises. Subclasses override `connector` with a seeded source whose
    documents have the uris in `expected_uris`."""

    expected_uris: frozenset[str]

    @pytest.fixture
    def connector(self) -> Connector:
        raise NotImplementedError

    def test_documents_stream_lazily(self, connector: Connector) -> None:
        assert isinstance(connector.documents(), GeneratorType)

    def test_documents_match_list_uris(self, connector: Connector) -> None:
        docs = list(connector.documents())
        uris = [d.uri for d in docs]
        assert len(uris) == len(set(uris))
        assert set(uris) == connector.list_uris() == self.expected_uris
        assert all(isinstance(d, SourceDocument) and isinstance(d.content, bytes) and d.content for d in docs)
        assert connector.errors == []

    def test_documents_yield_only_the_uris_asked_for(self, connector: Connector) -> None:
        """A worker's share of a source: the filter decides before content is read, and the
        shares of a split cover the source exactly once."""
        picked = sorted(self.expected_uris)[::2]
        assert sorted(d.uri for d in connector.documents(lambda u: u in picked)) == picked
        halves = [{d.uri for d in connector.documents(lambda u, k=k: hash(u) % 2 == k)} for k in (0, 1)]
        assert halves[0].isdisjoint(halves[1]) and halves[0] | halves[1] == self.expected_uris


# ---------------------------------------------------------------- folder


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "규정집"
    _write(root / "보안" / "정보보호.md", REGULATION)
    _write(root / "보안" / "정보보호.md.acl.json", json.dumps({"users": ["kim"], "groups": ["security", "audit"]}))
    _write(root / "인사" / "휴가.txt", "제1조(목적) 연차 휴가에 관한 사항을 정한다.")
    _write(root / "인사" / "휴가.txt.meta.json",
           json.dumps({"groups": ["hr"], "tags": ["인사", "휴가"], "residency": "kr-only"}, ensure_ascii=False))
    _write(root / "인사" / "급여.md", "---\ntitle: 급여 규정\nacl:\n  users: [lee]\n  groups: [hr, payroll]\n"
                                     "tags: [급여]\n---\n# 급여 규정\n\n급여는 매월 25일에 지급한다.\n")
    _write(root / "공지.md", "---\nusers: park, choi\ngroups: [all-staff, 1024]\n---\n전 직원 공지입니다.\n")
    _write(root / "개요.html", "<html><body><p>회사 소개</p></body></html>")
    _write(root / ".hidden.md", "숨김 파일")
    _write(root / ".git" / "config", "[core]")
    _write(root / "보안" / ".draft" / "초안.md", "초안")
    return root


class TestFolderContract(ConnectorContract):
    expected_uris = frozenset({"보안/정보보호.md", "인사/휴가.txt", "인사/급여.md", "공지.md", "개요.html"})

    @pytest.fixture
    def connector(self, tree: Path) -> Connector:
        return open_source(str(tree))


def test_folder_acl_from_sidecars_and_front_matter(tree: Path) -> None:
    docs = {d.uri: d for d in open_source(f"file://{tree}").documents()}
    security = docs["보안/정보보호.md"]
    assert security.acl == Acl(users=("kim",), groups=("security", "audit"))  # the sidecar wins over none
    assert security.media_type == "text/markdown"
    assert security.content.decode() == REGULATION
    assert security.modified is not None and security.modified.tzinfo is not None

    vacation = docs["인사/휴가.txt"]
    assert vacation.acl == Acl(groups=("hr",))
    assert vacation.metadata == {"tags": ["인사", "휴가"], "residency": "kr-only"}
    assert vacation.media_type == "text/plain"

    pay = docs["인사/급여.md"]
    assert pay.acl == Acl(users=("lee",), groups=("hr", "payroll"))
    assert pay.title == "급여 규정"
    assert pay.metadata == {"tags": ["급여"]}

    notice = docs["공지.md"]
    assert notice.acl == Acl(users=("park", "choi"), groups=("all-staff", "1024"))
    assert docs["개요.html"].acl.empty  # no ACL source: the collection default applies later


def test_folder_single_file(tree: Path) -> None:
    conn = open_source(str(tree / "인사" / "휴가.txt"))
    (doc,) = conn.documents()
    assert doc.uri == "휴가.txt" and doc.acl == Acl(groups=("hr",))
    assert conn.list_uris() == {"휴가.txt"}


def test_folder_broken_acl_skips_the_file_instead_of_opening_it(tree: Path) -> None:
    _write(tree / "보안" / "비밀.txt", "대외비 문서")
    _write(tree / "보안" / "비밀.txt.acl.json", "{users: [kim")  # not JSON
    _write(tree / "보안" / "깨진.md", "---\nacl: [unclosed\n---\n본문\n")
    _write(tree / "보안" / "모호.md", "---\nacl: [security]\n---\n본문\n")  # a list: meant to restrict
    conn = open_source(str(tree))
    uris = {d.uri for d in conn.documents()}
    assert not {"보안/비밀.txt", "보안/깨진.md", "보안/모호.md"} & uris
    assert "보안/정보보호.md" in uris
    errors = {e.uri: e.message for e in conn.errors}
    assert "not valid JSON" in errors["보안/비밀.txt"]
    assert "front matter" in errors["보안/깨진.md"]
    assert "must be a mapping" in errors["보안/모호.md"]


def test_missing_folder_and_unknown_scheme(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="not found"):
        open_source(str(tmp_path / "없음"))
    with pytest.raises(InvalidRequest, match="no connector for ftp"):
        open_source("ftp://example.com/docs")


def test_extensions_register_like_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    import gureum.knowledge.connectors.registry as registry

    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))  # leave no "memo" behind

    @register("memo")
    class MemoConnector:
        def __init__(self, uri: str, *, notes: dict[str, str]) -> None:
            self.notes, self.errors = notes, []

        def documents(self) -> Iterator[SourceDocument]:
            for key, note in self.notes.items():
                yield SourceDocument(uri=key, content=note.encode(), media_type="text/plain")

        def list_uris(self) -> set[str]:
            return set(self.notes)

    conn = open_source("memo://inbox", notes={"1": "회의록"})
    assert isinstance(conn, MemoConnector) and conn.list_uris() == {"1"}
    assert {"file", "s3", "postgresql", "sqlite", "memo"} <= set(schemes())


# ---------------------------------------------------------------- S3 (moto server on loopback)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"gureum-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})

    def put(key: str, body: str, tags: dict[str, str] | None = None, content_type: str | None = None) -> None:
        extra: dict[str, Any] = {"Tagging": urlencode(tags)} if tags else {}
        if content_type:
            extra["ContentType"] = content_type
        client.put_object(Bucket=name, Key=key, Body=body.encode("utf-8"), **extra)

    put("policies/보안/정보보호.md", REGULATION,
        {"acl-users": "kim lee", "acl-groups": "security", "residency": "kr-only", "owner": "ciso"}, "text/markdown")
    put("policies/인사/휴가.txt", "연차 휴가 규정")  # untyped upload: binary/octet-stream
    put("policies/인사/휴가.txt.acl.json", json.dumps({"groups": ["hr"], "tags": ["휴가"]}, ensure_ascii=False))
    put("policies/공지.html", "<p>공지</p>", content_type="text/html; charset=utf-8")
    put("policies/폴더/", "")  # a console-made folder marker
    put("policies/.trash/old.md", "삭제됨")
    put("other/무관.txt", "다른 접두사")
    return name, client


class TestS3Contract(ConnectorContract):
    expected_uris = frozenset({"policies/보안/정보보호.md", "policies/인사/휴가.txt", "policies/공지.html"})

    @pytest.fixture
    def connector(self, bucket: tuple[str, Any], s3_endpoint: str) -> Connector:
        return open_source(f"s3://{bucket[0]}/policies/", endpoint_url=s3_endpoint)


def test_s3_acl_from_tags_then_sidecar(bucket: tuple[str, Any], s3_endpoint: str) -> None:
    docs = {d.uri: d for d in open_source(f"s3://{bucket[0]}/policies/", endpoint_url=s3_endpoint).documents()}
    security = docs["policies/보안/정보보호.md"]
    assert security.acl == Acl(users=("kim", "lee"), groups=("security",))
    assert security.metadata == {"object_tags": {"owner": "ciso"}, "residency": "kr-only"}
    assert security.media_type == "text/markdown"
    assert security.content.decode() == REGULATION
    assert security.modified is not None

    vacation = docs["policies/인사/휴가.txt"]
    assert vacation.acl == Acl(groups=("hr",))
    assert vacation.metadata["tags"] == ["휴가"]
    assert vacation.media_type is None  # the generic default says nothing; the parser uses the suffix
    assert docs["policies/공지.html"].media_type == "text/html"


def test_s3_paginates_and_reads_endpoint_from_env(bucket: tuple[str, Any], s3_endpoint: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    conn = open_source(f"s3://{bucket[0]}", page_size=2)  # 8 keys → several list requests
    assert conn.list_uris() == {"policies/보안/정보보호.md", "policies/인사/휴가.txt", "policies/공지.html",
                                "other/무관.txt"}


def test_s3_missing_bucket_is_a_source_error(s3_endpoint: str, bucket: tuple[str, Any]) -> None:
    conn = open_source("s3://no-such-bucket-gureum/x", endpoint_url=s3_endpoint)
    with pytest.raises(InvalidRequest, match="NoSuchBucket"):
        conn.list_uris()


# ---------------------------------------------------------------- SQL (PostgreSQL and SQLite)


@pytest.fixture
def pg_table() -> Iterator[str]:
    table = f"kb_articles_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, title text, body text, category text, "
                     "readers text[], teams text)")
        conn.execute(f"INSERT INTO {table} VALUES "
                     "(1, '연차 규정', '연차는 입사일 기준으로 부여한다.', '인사', ARRAY['kim','lee'], 'hr, legal'),"
                     "(2, '보안 규정', '비밀번호는 90일마다 변경한다.', '보안', NULL, 'security'),"
                     "(3, '공지', NULL, '일반', '{}', NULL)")
    yield table
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _pg_source(table: str, **options: Any) -> Connector:
    return open_source(PG_URL, query=f"SELECT * FROM {table} ORDER BY id", acl_users_column="readers",
                       acl_groups_column="teams", **options)


class TestPostgresContract(ConnectorContract):
    expected_uris = frozenset({"1", "2", "3"})

    @pytest.fixture
    def connector(self, pg_table: str) -> Connector:
        return _pg_source(pg_table, title_column="title")


def test_postgres_rows_become_documents(pg_table: str) -> None:
    docs = {d.uri: d for d in _pg_source(pg_table, title_column="title").documents()}
    first = docs["1"]
    # Default text: every column but the id and the ACL columns, as "column: value" lines.
    assert first.content.decode() == "title: 연차 규정\nbody: 연차는 입사일 기준으로 부여한다.\ncategory: 인사"
    assert first.title == "연차 규정" and first.media_type == "text/plain"
    assert first.acl == Acl(users=("kim", "lee"), groups=("hr", "legal"))  # an array, and comma-separated text
    assert docs["2"].acl == Acl(groups=("security",))
    assert docs["3"].acl.empty
    assert docs["3"].content.decode() == "title: 공지\ncategory: 일반"  # NULLs are left out

    body_only = {d.uri: d for d in _pg_source(pg_table, text_columns=["body"]).documents()}
    assert body_only["2"].content.decode() == "비밀번호는 90일마다 변경한다."


def test_postgres_bad_options_are_source_errors(pg_table: str) -> None:
    with pytest.raises(InvalidRequest, match="no column"):
        list(_pg_source(pg_table, id_column="article_id").documents())
    with pytest.raises(InvalidRequest, match="query failed"):
        open_source(PG_URL, query="SELECT * FROM no_such_table_gureum").list_uris()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "faq.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE faq (faq_id TEXT PRIMARY KEY, question TEXT, answer TEXT, allowed TEXT)")
        conn.executemany("INSERT INTO faq VALUES (?, ?, ?, ?)", [
            ("q-1", "재택근무는 가능한가요?", "주 2회까지 가능합니다.", "staff contractors"),
            ("q-2", "법인카드 한도는?", "월 300만원입니다.", "finance"),
        ])
    return f"sqlite:///{path}"


def _sqlite_source(url: str) -> Connector:
    return open_source(url, query="SELECT * FROM faq;", id_column="faq_id",
                       text_columns=["question", "answer"], title_column="question", acl_groups_column="allowed")


class TestSqliteContract(ConnectorContract):
    expected_uris = frozenset({"q-1", "q-2"})

    @pytest.fixture
    def connector(self, sqlite_db: str) -> Connector:
        return _sqlite_source(sqlite_db)


def test_sqlite_text_columns_and_acl(sqlite_db: str) -> None:
    docs = {d.uri: d for d in _sqlite_source(sqlite_db).documents()}
    assert docs["q-1"].content.decode() == "question: 재택근무는 가능한가요?\nanswer: 주 2회까지 가능합니다."
    assert docs["q-1"].title == "재택근무는 가능한가요?"
    assert docs["q-1"].acl == Acl(groups=("staff", "contractors"))
