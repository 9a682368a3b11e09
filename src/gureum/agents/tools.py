"""Tools: Python functions registered with `@tool`. The JSON Schema the model sees is built from
the function's type hints (a pydantic model of its parameters), and the model's arguments are
validated against that model before the function runs. A parameter annotated `ToolContext`
receives who the call is for; it is not part of the schema, so the model can never set it.

    @tool(risky=True)
    async def send_mail(ctx: ToolContext, to: str, body: str) -> str:
        \"\"\"Send an e-mail as the user.\"\"\"

Built-in tools register through the same decorator (`agents/knowledge_tool.py`)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_type_hints

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from gureum.agents.settings import AgentSettings
from gureum.governance.principal import Principal

if TYPE_CHECKING:
    from gureum.platform import Platform


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who a tool call is for: the platform, the session user's principal, the agent, the turn."""

    platform: Platform
    principal: Principal
    agent: AgentSettings
    session_id: str
    request_id: str


class ToolArgumentsInvalid(ValueError):
    """The model's arguments do not fit the tool's schema; the message goes back to the model."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    arguments: type[BaseModel]
    context_param: str | None
    risky: bool

    def spec(self) -> dict[str, Any]:
        """The tool as OpenAI's `tools` entry."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": schema}}

    def validate(self, raw: str) -> BaseModel:
        try:
            args = orjson.loads(raw or "{}")
        except orjson.JSONDecodeError as exc:
            raise ToolArgumentsInvalid(f"arguments are not JSON: {exc}") from None
        if not isinstance(args, dict):
            raise ToolArgumentsInvalid("arguments must be a JSON object")
        try:
            return self.arguments.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors())
            raise ToolArgumentsInvalid(f"invalid arguments for {self.name}: {problems}") from None

    async def run(self, ctx: ToolContext, args: BaseModel) -> str:
        kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        if self.context_param is not None:
            kwargs[self.context_param] = ctx
        if inspect.iscoroutinefunction(self.fn):
            out = await self.fn(**kwargs)
        else:
            out = await asyncio.to_thread(self.fn, **kwargs)
        return out if isinstance(out, str) else orjson.dumps(out, default=str).decode()


REGISTRY: dict[str, Tool] = {}


def _build(fn: Callable[..., Any], name: str, risky: bool, description: str | None) -> Tool:
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    context_param = None
    for pname, param in inspect.signature(fn).parameters.items():
        hint = hints.get(pname, Any)
        if hint is ToolContext:
            context_param = pname
            continue
        fields[pname] = (hint, ... if param.default is inspect.Parameter.empty else param.default)
    model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    doc = description or inspect.getdoc(fn) or name
    return Tool(name, doc, fn, model, context_param, risky)


def tool(name: str | None = None, *, risky: bool = False,
         description: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a tool (`risky`: every call waits for the user's approval)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        t = _build(fn, name or fn.__name__, risky, description)
        REGISTRY[t.name] = t
        return fn

    return register


__all__ = ["REGISTRY", "Tool", "ToolArgumentsInvalid", "ToolContext", "tool"]
