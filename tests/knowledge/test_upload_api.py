"""Uploading files as multipart/form-data to `POST /v1/collections/{name}/documents`, through a
real gureum on a real PostgreSQL with the real e5 embedder: Markdown, PDF and DOCX files generated
here, the ACL and metadata form fields, then retrieval as a reader inside and outside the ACL; a
corrupt and an unsupported file beside a good one; incremental re-uploads; and the errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import docx
import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.knowledge.test_parsers import make_pdf
from tests.support.servers import serve_app

LIMIT = 1024 * 1024  # max_body_bytes of this server
MD = "# 재택근무\n\n재택근무는 주 2회까지 허용되며 팀장 승인이 필요하다.\n".encode()
PDF_PAGES = [["출장비 규정", "출장비 정산은 출장 종료 후 14일 이내에 전자결재로 신청한다."]]


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("보안 서약", level=1)
    document.add_paragraph("모든 임직원은 입사 시 보안 서약서를 제출하고 매년 갱신한다.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    settings = kn_gateway_settings(database_url, None, tmp_path_factory.mktemp("upload"), max_body_bytes=LIMIT)
    with serve_app(create_app(settings)) as base:
        api = Api(base)
        keys = {
            "admin": api.key(ADMIN_KEY, "up", "admin", user="boss"),
            "hana": api.key(ADMIN_KEY, "up", user="hana", groups=["hr"]),
            "kim": api.key(ADMIN_KEY, "up", user="kim"),
            "bob": api.key(ADMIN_KEY, "up", user="bob", groups=["eng"]),
        }
        for name in ("files", "misc"):
            r = api.call("POST", "/v1/collections", keys["admin"], {"name": name})
            assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        yield {"api": api, "keys": keys, "base": base}


def upload(env: dict[str, Any], files: list[tuple[str, tuple[Any, ...]]], data: dict[str, Any] | None = None,
           collection: str = "files", key: str = "admin") -> httpx.Response:
    return env["api"].http.post(f"/v1/collections/{collection}/documents", files=files, data=data or {},
                                headers={"authorization": f"Bearer {env['keys'][key]}"})


def uris(env: dict[str, Any], who: str, query: str, collection: str = "files") -> list[str]:
    r = env["api"].call("POST", "/v1/retrieve", env["keys"][who], {"collection": collection, "query": query, "k": 5})
    assert r.status_code == 200, r.text
    return [h["uri"] for h in r.json()["data"]]


def assert_openai_error(r: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    if param is not None:
        assert err["param"] == param
    return err


def test_files_with_acl_and_metadata_are_found_only_by_readers(env: dict[str, Any]) -> None:
    files = [
        ("file", ("hr/재택근무.md", MD, "text/markdown")),
        ("file", ("travel.pdf", make_pdf(PDF_PAGES), "application/pdf")),
        ("file", ("security.docx", make_docx(), "application/octet-stream")),
    ]
    r = upload(env, files, {"groups": "hr,legal", "users": ["kim"], "metadata": json.dumps({"source": "upload"})})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["object"] == "ingest.report" and report["collection"] == "files"
    assert (report["added"], report["updated"], report["unchanged"], report["failed"]) == (3, 0, 0, [])

    for who in ("hana", "kim"):  # a group and a user of the ACL
        assert uris(env, who, "재택근무는 주 몇 회까지 허용되나요?")[0] == "hr/재택근무.md"
        assert uris(env, who, "출장비 정산 기한")[0] == "travel.pdf"
        assert uris(env, who, "보안 서약서 제출")[0] == "security.docx"
    for query in ("재택근무 허용", "출장비 정산 기한", "보안 서약서 제출"):
        assert uris(env, "bob", query) == []  # outside the ACL: nothing, not even a score

    listed = env["api"].call("GET", "/v1/collections/files/documents", env["keys"]["hana"]).json()["data"]
    by_uri = {d["uri"]: d for d in listed}
    assert set(by_uri) == {"hr/재택근무.md", "travel.pdf", "security.docx"}
    assert all(d["acl"] == ["group:hr", "group:legal", "user:kim"] and d["acl_source"] == "source" for d in listed)
    assert all(d["metadata"] == {"source": "upload"} for d in listed)
    # The type is read from the name, as the folder connector records it, whatever the client labelled.
    assert by_uri["security.docx"]["media_type"].endswith("wordprocessingml.document")
    assert by_uri["hr/재택근무.md"]["media_type"] == "text/markdown"


def test_without_acl_fields_the_collection_default_applies(env: dict[str, Any]) -> None:
    r = upload(env, [("file", ("notice.txt", "사내 식당은 오전 11시 30분에 연다.".encode(), "text/plain"))], collection="misc")
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    assert uris(env, "bob", "사내 식당 여는 시간", "misc") == ["notice.txt"]


def test_markdown_front_matter_sets_acl_title_and_metadata(env: dict[str, Any]) -> None:
    restricted = "---\ntitle: 인사 평가 기준\ngroups: [hr]\ntags: [평가]\n---\n# 평가\n\n인사 평가는 반기마다 실시한다.\n"
    override = "---\ngroups: [hr]\n---\n# 회의실\n\n대회의실 예약은 하루 전까지 한다.\n"
    broken = "---\ngroups: [hr\n---\n# 비밀\n\n망가진 머리말 아래의 급여 테이블.\n"
    r = upload(env, [("file", ("front/review.md", restricted.encode(), "text/markdown")),
                     ("file", ("front/broken.md", broken.encode(), "text/markdown"))],
               {"metadata": json.dumps({"source": "upload"})}, collection="misc")
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 1
    failed = {f["uri"]: f["error"] for f in r.json()["failed"]}
    assert list(failed) == ["front/broken.md"] and "front matter" in failed["front/broken.md"]
    assert uris(env, "hana", "인사 평가 주기", "misc")[0] == "front/review.md"
    assert "front/review.md" not in uris(env, "bob", "인사 평가 주기", "misc")
    assert "front/broken.md" not in uris(env, "bob", "급여 테이블", "misc") + uris(env, "hana", "급여 테이블", "misc")
    doc = next(d for d in env["api"].call("GET", "/v1/collections/misc/documents", env["keys"]["hana"]).json()["data"]
               if d["uri"] == "front/review.md")
    assert (doc["acl"], doc["acl_source"], doc["title"]) == (["group:hr"], "source", "인사 평가 기준")
    assert doc["metadata"] == {"tags": ["평가"], "source": "upload"}
    # The request's own ACL wins over the file's, in multipart and in JSON uploads alike.
    r = upload(env, [("file", ("front/room.md", override.encode(), "text/markdown"))], {"groups": "eng"},
               collection="misc")
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    assert uris(env, "bob", "대회의실 예약", "misc")[0] == "front/room.md"
    r = env["api"].call("POST", "/v1/collections/misc/documents", env["keys"]["admin"], {"documents": [
        {"uri": "front/json.md", "text": restricted.replace("인사 평가", "직무 평가")}]})
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    assert "front/json.md" not in uris(env, "bob", "직무 평가 주기", "misc")
    assert uris(env, "hana", "직무 평가 주기", "misc")[0] == "front/json.md"


def test_a_corrupt_and_an_unsupported_file_fail_alone(env: dict[str, Any]) -> None:
    whole = make_pdf(PDF_PAGES)
    files = [
        ("file", ("broken.pdf", whole[: len(whole) // 2], "application/pdf")),
        ("file", ("image.xyz", b"\x89PNG not a document", "application/octet-stream")),
        ("file", ("good.md", "# 주차\n\n주차권은 총무팀에서 월 단위로 발급한다.".encode(), "text/markdown")),
    ]
    r = upload(env, files, collection="misc")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["added"] == 1
    failed = {f["uri"]: f["error"] for f in report["failed"]}
    assert set(failed) == {"broken.pdf", "image.xyz"}
    assert "corrupt or truncated PDF" in failed["broken.pdf"]
    assert "unsupported file type .xyz" in failed["image.xyz"]
    assert uris(env, "bob", "주차권 발급", "misc")[0] == "good.md"


def test_an_unchanged_file_is_skipped_and_a_changed_one_replaced(env: dict[str, Any]) -> None:
    file = ("file", ("leave.md", "# 연차\n\n연차 휴가는 입사 1년 후 15일이 주어진다.".encode(), "text/markdown"))
    first = upload(env, [file], collection="misc").json()
    assert first["added"] == 1, first
    again = upload(env, [file], collection="misc").json()
    assert (again["added"], again["updated"], again["unchanged"], again["chunks"]) == (0, 0, 1, 0)
    # The client's label does not matter: the type comes from the name, so the hash is the same.
    relabelled = upload(env, [("file", (file[1][0], file[1][1], "application/octet-stream"))], collection="misc").json()
    assert relabelled["unchanged"] == 1
    changed = upload(env, [("file", ("leave.md", "# 연차\n\n연차 휴가는 입사 1년 후 20일이 주어진다.".encode()))],
                     collection="misc").json()
    assert (changed["added"], changed["updated"]) == (0, 1)
    hits = env["api"].call("POST", "/v1/retrieve", env["keys"]["bob"],
                           {"collection": "misc", "query": "연차 휴가 일수", "k": 1}).json()["data"]
    assert hits[0]["uri"] == "leave.md" and "20일" in hits[0]["text"]


def test_bad_requests_get_openai_errors(env: dict[str, Any]) -> None:
    api, admin = env["api"], env["keys"]["admin"]
    auth = {"authorization": f"Bearer {admin}"}
    path = "/v1/collections/misc/documents"
    good = ("file", ("x.md", b"# X\n\nsome text", "text/markdown"))

    # Neither a JSON body nor files.
    assert_openai_error(api.http.post(path, headers=auth), 400)
    assert_openai_error(api.http.post(path, content=b"not json", headers={**auth, "content-type": "application/json"}), 400)
    assert_openai_error(upload(env, [("groups", (None, b"hr"))], collection="misc"), 400, "file")
    assert_openai_error(api.http.post(path, content=b"--x--", headers={**auth, "content-type": "multipart/form-data"}), 400)
    # A part named file without a filename is a plain field, not a file.
    assert_openai_error(upload(env, [("file", (None, b"just text"))], collection="misc"), 400, "file")
    # Wrong form fields are wrong values, as in the JSON body.
    assert_openai_error(upload(env, [good], {"group": "hr"}, collection="misc"), 422, "group")
    assert_openai_error(upload(env, [good], {"metadata": "{not json"}, collection="misc"), 422, "metadata")
    assert_openai_error(upload(env, [good], {"metadata": "[1, 2]"}, collection="misc"), 422, "metadata")
    # One name, one document (two in one batch would collide in the index).
    err = assert_openai_error(upload(env, [good, good], collection="misc"), 400)
    assert "x.md" in err["message"]
    # The body limit holds for multipart, declared or streamed without a length.
    big = ("file", ("big.txt", b"a" * (LIMIT + 1), "text/plain"))
    assert_openai_error(upload(env, [big], collection="misc"), 413)
    request = api.http.build_request("POST", path, files=[big], headers=auth)
    body = request.read()
    chunked = api.http.post(path, content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                            headers={**auth, "content-type": request.headers["content-type"]})
    assert_openai_error(chunked, 413)
    # Uploading is for tenant admins; nothing above was ingested.
    r = upload(env, [good], collection="misc", key="hana")
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    listed = api.call("GET", "/v1/collections/misc/documents", admin).json()["data"]
    assert "x.md" not in {d["uri"] for d in listed} and "big.txt" not in {d["uri"] for d in listed}


def test_json_uploads_still_work_and_reject_a_repeated_uri(env: dict[str, Any]) -> None:
    api, admin = env["api"], env["keys"]["admin"]
    doc = {"uri": "json.md", "text": "# JSON\n\nJSON 업로드는 그대로 동작한다."}
    r = api.call("POST", "/v1/collections/misc/documents", admin, {"documents": [doc]})
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    assert_openai_error(api.call("POST", "/v1/collections/misc/documents", admin, {"documents": [doc, doc]}), 400,
                        "documents")
