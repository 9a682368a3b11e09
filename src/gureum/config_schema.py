"""The JSON Schema of gureum.yaml, generated from the settings models (docs/gureum.schema.json is
this output; a test checks it), so editors complete and check the file:
`# yaml-language-server: $schema=docs/gureum.schema.json` at the top of a gureum.yaml."""

from __future__ import annotations

from typing import Any

from gureum.config import Settings

SCHEMA_ID = "https://gureum.dev/schema/gureum.schema.json"


def schema() -> dict[str, Any]:
    body = Settings.model_json_schema(mode="validation")
    body["properties"].pop("config_path", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **{k: v for k, v in body.items() if k != "title"},
        "title": "gureum.yaml",
        "description": "gureum settings: providers, deployments, virtual models, routing, governance, caches, "
        "economy, collections and the check section (docs/configuration.md).",
    }


__all__ = ["SCHEMA_ID", "schema"]
