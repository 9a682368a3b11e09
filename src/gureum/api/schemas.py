"""Request models at the API boundary. They check shape and types; everything else in the body
is passed on untouched, because providers accept more parameters than we need to understand."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    stop: str | list[str] | None = None


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    input_type: Literal["query", "passage"] | None = None


# Routes read their bodies raw (one parse, bounded size) and validate with these models; the
# OpenAPI document still describes the bodies through `body_doc` and `components`.
DOCUMENTED: tuple[type[BaseModel], ...] = (ChatRequest, EmbeddingsRequest)
_REF = "#/components/schemas/{model}"


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}}}


def components(models: tuple[type[BaseModel], ...] = DOCUMENTED) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in models:
        schema = m.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[m.__name__] = schema
    return out
