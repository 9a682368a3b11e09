"""An S3 bucket or prefix: `s3://bucket/prefix`, through boto3, so any S3-compatible server
(MinIO, Ceph, R2, …) works with `endpoint_url` (or the AWS_ENDPOINT_URL environment variable).

uri = the object key. ACL from the object's tags `acl-users` / `acl-groups` (names separated by
spaces — AWS allows no commas in tag values; servers that do may use commas) and `residency`;
when the tags carry no ACL, from a sidecar object `<key>.acl.json` or `<key>.meta.json` (same
shape as the folder's). Media type from the object's Content-Type, unless it is the generic
default S3 gives untyped uploads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from gureum.errors import InvalidRequest
from gureum.knowledge.connectors._acl import SIDECAR_SUFFIXES, names, read_sidecar
from gureum.knowledge.connectors.registry import register
from gureum.knowledge.documents import Acl, IngestError, SourceDocument

__all__ = ["S3Connector"]

_GENERIC_TYPES = frozenset({"binary/octet-stream", "application/octet-stream"})
_ACL_TAGS = ("acl-users", "acl-groups")


@register("s3")
class S3Connector:
    def __init__(self, uri: str, *, endpoint_url: str | None = None, page_size: int = 1000,
                 **client_options: Any) -> None:
        """`page_size`: keys per list request (S3 returns at most 1000). `client_options` go to
        `boto3.client("s3", ...)`: region_name, aws_access_key_id, config, …"""
        import boto3  # deferred: only S3 sources pay for importing boto3

        parts = urlsplit(uri)
        if not parts.netloc:
            raise InvalidRequest(f"S3 URI needs a bucket: {uri!r}", param="uri")
        self.bucket = parts.netloc
        self.prefix = parts.path.lstrip("/")
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        self._client = boto3.client("s3", endpoint_url=endpoint, **client_options)
        self.page_size = page_size
        self.errors: list[IngestError] = []

    def list_uris(self) -> set[str]:
        return {key for key, _ in self._objects()}

    def documents(self, want: Callable[[str], bool] | None = None) -> Iterator[SourceDocument]:
        from botocore.exceptions import BotoCoreError, ClientError

        for key, listed in self._objects():
            if want is not None and not want(key):
                continue
            try:
                doc = self._document(key, listed)
            except (ClientError, BotoCoreError, ValueError) as exc:
                self.errors.append(IngestError(key, f"cannot read s3://{self.bucket}/{key}: {exc}"))
                continue
            yield doc

    def _objects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        from botocore.exceptions import BotoCoreError, ClientError

        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": self.page_size})
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    if _is_document(obj["Key"][len(self.prefix):]):
                        yield obj["Key"], obj
        except (ClientError, BotoCoreError) as exc:
            raise InvalidRequest(f"cannot list s3://{self.bucket}/{self.prefix}: {exc}", param="uri") from exc

    def _document(self, key: str, listed: dict[str, Any]) -> SourceDocument:
        obj = self._client.get_object(Bucket=self.bucket, Key=key)
        content = obj["Body"].read()
        tags = {t["Key"]: t["Value"] for t in self._client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]}
        acl, metadata = self._acl(key, tags)
        content_type = (obj.get("ContentType") or "").split(";")[0].strip().lower()
        return SourceDocument(
            uri=key,
            content=content,
            title=str(metadata.pop("title", "") or ""),
            media_type=None if not content_type or content_type in _GENERIC_TYPES else content_type,
            acl=acl,
            metadata=metadata,
            modified=listed.get("LastModified"),
        )

    def _acl(self, key: str, tags: dict[str, str]) -> tuple[Acl, dict[str, Any]]:
        metadata: dict[str, Any] = {}
        if other := {k: v for k, v in tags.items() if k not in (*_ACL_TAGS, "residency")}:
            metadata["object_tags"] = other
        if "residency" in tags:
            metadata["residency"] = tags["residency"]
        if any(tags.get(t) for t in _ACL_TAGS):
            return Acl(users=names(tags.get("acl-users")), groups=names(tags.get("acl-groups"))), metadata
        for suffix in SIDECAR_SUFFIXES:
            raw = self._sidecar(key + suffix)
            if raw is not None:
                acl, sidecar_meta = read_sidecar(raw, key + suffix)
                return acl, {**metadata, **sidecar_meta}
        return Acl(), metadata

    def _sidecar(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return body


def _is_document(relative_key: str) -> bool:
    """Not a folder marker, not hidden (any path segment starting with a dot), not a sidecar."""
    if not relative_key or relative_key.endswith(("/", *SIDECAR_SUFFIXES)):
        return False
    return not any(part.startswith(".") for part in relative_key.split("/"))
