"""The knowledge layer (RAG): ingestion → cleaning and chunking → embedding → index → retrieval
and grounded answers, with document ACLs enforced inside the index query."""
