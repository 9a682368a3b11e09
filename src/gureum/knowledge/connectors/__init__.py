"""Connectors find documents in a source (a folder, a bucket, a database) and yield them as
`SourceDocument`s with their ACL. One registry maps a URI scheme to a connector factory; the
built-ins below register through the same `register` hook an extension uses.

    conn = open_source("s3://policies/hr", endpoint_url="http://minio:9000")
    for doc in conn.documents():   # lazy: a large bucket streams
        ...
    stale = indexed_uris - conn.list_uris()   # what `--sync` deletes
"""

# The built-ins register on import, exactly like an extension would.
from gureum.knowledge.connectors import folder, s3, sql  # noqa: E402, F401
from gureum.knowledge.connectors.registry import Connector, open_source, register, schemes

__all__ = ["Connector", "open_source", "register", "schemes"]
