"""Knowledge routes: collections, documents (upload, ACL, delete), retrieval and answers.

Retrieval and answers run through the platform flow (identified, authorized, audited and
accounted like every model call); collection and document management is for tenant admins and
is audited here. Another tenant's collection, and a document the caller may not read, are the
same 404 as one that does not exist.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, Json
from starlette.datastructures import FormData, UploadFile

from gureum.api.access import audited, require
from gureum.api.common import (
    Cursor,
    RowId,
    complete,
    is_multipart,
    platform,
    read_form,
    read_json,
    validate,
)
from gureum.errors import InvalidRequest, NotFound
from gureum.flow.gateway import Parsed
from gureum.flow.operations import ANSWER, RETRIEVE
from gureum.governance.principal import Principal, Role
from gureum.knowledge import collections, index
from gureum.knowledge.collections import MAX_RERANK_CANDIDATES, Collection, check_acl
from gureum.knowledge.connectors._acl import front_matter, names
from gureum.knowledge.documents import Acl, SourceDocument
from gureum.jobs.set_indexes import hand_over
from gureum.knowledge.ingest import Ingestor
from gureum.knowledge.parsers import media_type_for
from gureum.knowledge.retrieve import MAX_K
from gureum.knowledge.service import KnowledgeService

router = APIRouter(prefix="/v1")
_READ = (Role.ADMIN, Role.MEMBER)
MAX_UPLOAD_DOCUMENTS = 1000
MAX_URI = 2000
OCTET_STREAM = "application/octet-stream"


def _svc(request: Request) -> KnowledgeService:
    return platform(request).knowledge


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    embedder: str | None = None
    chunk_max_tokens: int | None = Field(default=None, ge=32, le=8192)
    chunk_overlap: int | None = Field(default=None, ge=0)
    residency: str | None = None
    default_acl: list[str] | None = None
    pii_policy: Literal["mask", "exclude", "allow"] = "mask"
    answer_model: str | None = None
    reranker: str | None = None
    rerank_candidates: int | None = Field(default=None, ge=1, le=MAX_RERANK_CANDIDATES)


class CollectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    residency: str | None = None
    default_acl: list[str] | None = None
    pii_policy: Literal["mask", "exclude", "allow"] | None = None
    answer_model: str | None = None
    reranker: str | None = None  # null turns reranking off
    rerank_candidates: int | None = Field(default=None, ge=1, le=MAX_RERANK_CANDIDATES)


class AclBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: str = Field(min_length=1, max_length=MAX_URI)
    text: str | None = None
    content_base64: str | None = None
    title: str = ""
    media_type: str | None = None
    acl: AclBody | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_UPLOAD_DOCUMENTS)


class UploadForm(BaseModel):
    """The fields of a multipart upload besides its `file` parts; they apply to every file.
    `users`/`groups` may repeat or hold comma-separated names; `metadata` is a JSON object."""

    model_config = ConfigDict(extra="forbid")
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    metadata: Json[dict[str, Any]] = Field(default_factory=dict)


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str
    query: str = Field(min_length=1)
    k: int = Field(default=10, ge=1, le=MAX_K)
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
    reranker: str | None = None  # a rerank model for this call instead of the collection's


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    collection: str
    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=MAX_K)
    model: str | None = None
    reranker: str | None = None
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)


def _doc_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "object": "document", "uri": row["uri"], "title": row["title"], "media_type": row["media_type"],
        "acl": list(row["acl"]), "acl_source": row["acl_source"], "residency": row["residency"],
        "pii_types": list(row["pii_types"]), "chunks": row["n_chunks"], "tokens": row["tokens"],
        "content_hash": row["content_hash"], "metadata": row["metadata"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


async def _collection(request: Request, principal: Principal, name: str) -> Collection:
    return await _svc(request).collection(principal, name)


# --------------------------------------------------------------------------- collections


@router.post("/collections", status_code=201)
async def create_collection(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    req = validate(CollectionCreate, await read_json(request, 64 * 1024))
    p = platform(request)
    col = await collections.create(p.store.engine, p.settings, principal.tenant_id, req.name,
                                   **req.model_dump(exclude={"name"}, exclude_none=True))
    await audited(request, principal, "knowledge.collection.create", f"collection:{col.name}",
                  {"embedder": col.embedder, "residency": col.residency, "default_acl": list(col.default_acl),
                   "reranker": col.reranker})
    return col.public()


@router.get("/collections")
async def list_collections(request: Request) -> dict[str, Any]:
    principal = await require(request, *_READ)
    return {"object": "list", "data": await collections.list_all(platform(request).store.engine, principal.tenant_id)}


@router.get("/collections/{name}")
async def get_collection(name: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_READ)
    return (await _collection(request, principal, name)).public()


@router.patch("/collections/{name}")
async def update_collection(name: str, request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    req = validate(CollectionUpdate, await read_json(request, 64 * 1024))
    col = await _collection(request, principal, name)
    changes = req.model_dump(exclude_unset=True)
    col = await collections.update(platform(request).store.engine, platform(request).settings, col, changes)
    await audited(request, principal, "knowledge.collection.update", f"collection:{name}", {"changes": changes})
    return col.public()


@router.delete("/collections/{name}")
async def delete_collection(name: str, request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    col = await _collection(request, principal, name)
    await collections.delete(platform(request).store.engine, col)
    await audited(request, principal, "knowledge.collection.delete", f"collection:{name}", {})
    return {"id": col.id, "object": "collection.deleted", "name": name, "deleted": True}


# --------------------------------------------------------------------------- documents


@router.post("/collections/{name}/documents")
async def upload_documents(name: str, request: Request) -> dict[str, Any]:
    """Upload documents as JSON (`text`, or `content_base64` with a `media_type` or a uri suffix the
    parsers know: .md, .html, .pdf, .docx, .csv, …) or as multipart/form-data (`file` parts, named
    by their filename, with optional `users`, `groups` and `metadata` fields for all of them).
    Same incremental rules as the CLI; a file that cannot be parsed is reported, the rest ingested."""
    principal = await require(request, Role.ADMIN)
    p = platform(request)
    if is_multipart(request):
        form = await read_form(request, p.settings.max_body_bytes, MAX_UPLOAD_DOCUMENTS)
        try:
            docs = await _form_documents(form)
        finally:
            await form.close()
    else:
        req = validate(DocumentsUpload, await read_json(request, p.settings.max_body_bytes))
        docs = [_json_document(d) for d in req.documents]
    seen: set[str] = set()
    for d in docs:
        # One uri is one document: two in one batch would collide in the index.
        if d.uri in seen:
            raise InvalidRequest(f"document '{d.uri}' is sent twice; each uri (or filename) names one document",
                                 param="documents")
        seen.add(d.uri)
    col = await _collection(request, principal, name)
    docs, unreadable = _with_front_matter(docs)
    report = await Ingestor(p.store.engine, col, p.embedder(principal, col, origin="api"),
                            maintain_indexes=False).run(docs)
    report.failed.extend(unreadable)
    index_job = await hand_over(p.store.engine, col.tenant_id, p.settings.jobs.max_attempts)
    await audited(request, principal, "knowledge.document.upload", f"collection:{name}",
                  {"uris": [d.uri for d in docs][:100], "added": report.added, "updated": report.updated,
                   "failed": len(report.failed)})
    return {"object": "ingest.report", "collection": name, **report.as_dict(), "index_job": index_job}


def _acl(body: AclBody | None) -> Acl:
    if body is None:
        return Acl()
    check_acl([f"user:{u}" for u in body.users] + [f"group:{g}" for g in body.groups])
    return Acl(users=tuple(body.users), groups=tuple(body.groups))


def _with_front_matter(docs: list[SourceDocument]) -> tuple[list[SourceDocument], list[tuple[str, str]]]:
    """Markdown front matter read as the folder connector reads it: its ACL applies when the
    request gave none, its title when the request gave none, its metadata under the request's.
    A file with a broken front matter is reported and left out (fail closed), the rest go on."""
    out: list[SourceDocument] = []
    failed: list[tuple[str, str]] = []
    for d in docs:
        try:
            acl, front = front_matter(d.uri, d.content)
        except ValueError as exc:
            failed.append((d.uri, str(exc)))
            continue
        title = d.title or str(front.pop("title", "") or "")
        out.append(replace(d, acl=d.acl if not d.acl.empty else acl, title=title, metadata={**front, **d.metadata}))
    return out, failed


def _json_document(d: DocumentIn) -> SourceDocument:
    if (d.text is None) == (d.content_base64 is None):
        raise InvalidRequest(f"document '{d.uri}': send exactly one of 'text' or 'content_base64'", param="documents")
    try:
        content = d.text.encode("utf-8") if d.text is not None else base64.b64decode(d.content_base64 or "", validate=True)
    except ValueError:
        raise InvalidRequest(f"document '{d.uri}': content_base64 is not valid base64", param="documents") from None
    media_type = d.media_type or ("text/plain" if d.text is not None and "." not in d.uri.rsplit("/", 1)[-1] else None)
    return SourceDocument(uri=d.uri, content=content, title=d.title, media_type=media_type, acl=_acl(d.acl),
                          metadata=d.metadata)


async def _form_documents(form: FormData) -> list[SourceDocument]:
    """The `file` parts of a multipart upload as source documents: uri = the part's filename,
    media type as the folder connector records it (from the name; the part's own type only when
    the name says nothing, since clients label most files application/octet-stream)."""
    files = form.getlist("file")
    if not files:
        raise InvalidRequest("send one or more 'file' parts (multipart/form-data), or a JSON body with 'documents'",
                             param="file")
    fields: dict[str, Any] = {}
    for key in dict.fromkeys(k for k in form if k != "file"):
        values = form.getlist(key)
        if key in ("users", "groups") and all(isinstance(v, str) for v in values):
            fields[key] = [n for v in values for n in names(v)]
        else:  # a repeated single-valued field fails validation rather than losing a value
            fields[key] = values[0] if len(values) == 1 else values
    req = validate(UploadForm, fields)
    acl = _acl(AclBody(users=req.users, groups=req.groups))
    docs: list[SourceDocument] = []
    for part in files:
        if not isinstance(part, UploadFile) or not part.filename:
            raise InvalidRequest("every 'file' part needs a filename (it becomes the document's uri)", param="file")
        if len(part.filename) > MAX_URI:
            raise InvalidRequest(f"filename '{part.filename[:100]}…' is longer than {MAX_URI} characters", param="file")
        declared = (part.content_type or "").split(";", 1)[0].strip().lower()
        media_type = media_type_for(part.filename) or (declared if declared not in ("", OCTET_STREAM) else None)
        docs.append(SourceDocument(uri=part.filename, content=await part.read(), media_type=media_type, acl=acl,
                                   metadata=dict(req.metadata)))
    return docs


@router.get("/collections/{name}/documents")
async def list_documents(name: str, request: Request, after: Cursor = None,
                         limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
    principal = await require(request, *_READ)
    col = await _collection(request, principal, name)
    rows = await index.readable_documents(platform(request).store.engine,
                                          collections.scope(col, principal.principals()), limit, after)
    return {"object": "list", "data": [_doc_json(r) for r in rows], "has_more": len(rows) == limit}


@router.get("/collections/{name}/documents/{doc_id}")
async def get_document(name: str, doc_id: RowId, request: Request) -> dict[str, Any]:
    principal = await require(request, *_READ)
    svc = _svc(request)
    col = await svc.collection(principal, name)
    return _doc_json(await svc.document(principal, col, doc_id))


@router.put("/collections/{name}/documents/{doc_id}/acl")
async def set_acl(name: str, doc_id: RowId, request: Request) -> dict[str, Any]:
    """Replace a document's ACL; it takes effect for the next query."""
    principal = await require(request, Role.ADMIN)
    req = validate(AclBody, await read_json(request, 64 * 1024))
    svc = _svc(request)
    col = await svc.collection(principal, name)
    acl = check_acl(Acl(users=tuple(req.users), groups=tuple(req.groups)).principals())
    if not acl:
        raise InvalidRequest("an ACL needs at least one user or group ('*' for everyone in the tenant)", param="users")
    engine = platform(request).store.engine
    if not await index.set_document_acl(engine, col.id, doc_id, acl, "admin"):
        raise NotFound(f"no document {doc_id} in collection '{name}'", param="document_id")
    # Cached answers may quote this document to callers who just lost access; a set that grew past
    # the own-index threshold gets its graph from a job, not while this request waits.
    await collections.documents_changed(engine, col, maintain_indexes=False)
    await hand_over(engine, col.tenant_id, platform(request).settings.jobs.max_attempts)
    await audited(request, principal, "knowledge.document.acl", f"document:{name}/{doc_id}", {"acl": acl})
    return _doc_json(await svc.document(principal, col, doc_id, manage=True))


@router.delete("/collections/{name}/documents/{doc_id}")
async def delete_document(name: str, doc_id: RowId, request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    col = await _collection(request, principal, name)
    engine = platform(request).store.engine
    if not await index.delete_document(engine, col.id, doc_id):
        raise NotFound(f"no document {doc_id} in collection '{name}'", param="document_id")
    await collections.documents_changed(engine, col, maintain_indexes=False)
    await hand_over(engine, col.tenant_id, platform(request).settings.jobs.max_attempts)
    await audited(request, principal, "knowledge.document.delete", f"document:{name}/{doc_id}", {})
    return {"id": doc_id, "object": "document.deleted", "deleted": True}


# --------------------------------------------------------------------------- retrieval and answers


@router.post("/retrieve")
async def retrieve(request: Request) -> Response:
    async def read() -> Parsed:
        req = validate(RetrieveRequest, await read_json(request, 256 * 1024))
        return Parsed(req.model_dump(), f"rag/{req.collection}")

    return await complete(request, RETRIEVE, read)


@router.post("/answer")
async def answer(request: Request) -> Response:
    async def read() -> Parsed:
        req = validate(AnswerRequest, await read_json(request, platform(request).settings.max_body_bytes))
        return Parsed(req.model_dump(exclude_none=True), f"rag/{req.collection}", req.stream)

    return await complete(request, ANSWER, read)
