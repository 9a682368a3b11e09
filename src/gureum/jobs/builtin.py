"""The built-in job types: importing this module registers them (the server and `gureum worker`
import it; an extension's types come with `--import MODULE`)."""

from gureum.jobs import batch, ingest, set_indexes

__all__ = ["batch", "ingest", "set_indexes"]
