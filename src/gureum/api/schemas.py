"""Request models at the API boundary. They check shape and types; everything else in the body
is passed on untouched, because providers accept more parameters than we need to understand."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit for one request


# OpenAI's content part types and what each needs; any other `type` is refused, never dropped.
PART_FIELDS = {"text": "text", "image_url": "image_url", "input_audio": "input_audio", "file": "file"}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    @field_validator("content")
    @classmethod
    def _parts(cls, content: Any) -> Any:
        for i, part in enumerate(content if isinstance(content, list) else ()):
            kind = part.get("type")
            if kind not in PART_FIELDS:
                raise ValueError(f"part {i} has type {kind!r}; content parts are {', '.join(PART_FIELDS)}")
            need = PART_FIELDS[kind]
            value = part.get(need)
            if kind == "text" and not isinstance(value, str):
                raise ValueError(f"part {i} (text) needs a 'text' string")
            if kind == "image_url" and not (isinstance(value, dict) and isinstance(value.get("url"), str) and value["url"]):
                raise ValueError(f"part {i} (image_url) needs 'image_url': {{'url': …}}")
            if kind in ("input_audio", "file") and not isinstance(value, dict):
                raise ValueError(f"part {i} ({kind}) needs a '{need}' object")
        return content


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolDef(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: FunctionDef


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
    tools: list[ToolDef] | None = None
    tool_choice: str | dict[str, Any] | None = None
    stop: str | list[str] | None = None


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    input_type: Literal["query", "passage"] | None = None

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: str | list[str]) -> str | list[str]:
        items = [value] if isinstance(value, str) else value
        if not items:
            raise ValueError("send at least one input")
        if len(items) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"{len(items)} inputs; the most one request may send is {MAX_EMBEDDING_INPUTS}")
        empty = next((i for i, t in enumerate(items) if not t), None)
        if empty is not None:
            raise ValueError("input cannot be an empty string" + ("" if isinstance(value, str) else f" (item {empty})"))
        return value


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
