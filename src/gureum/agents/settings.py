"""Agent definitions: the `agents:` section of gureum.yaml, and the body of `POST /v1/agents`
(the same model, so an agent declared in the file and one created through the API mean the same).
An agent belongs to one tenant and acts as the user who runs it: it never has more than that user."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gureum.governance.principal import Role

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class Limits(BaseModel):
    """Caps checked before every model call and every tool call of the loop; reaching one ends the
    turn with a `limit` error event. Unset means no cap of that kind."""

    model_config = ConfigDict(extra="forbid")
    max_steps: int = Field(default=8, ge=1, le=100, description="Model calls in one turn.")
    max_tokens_per_turn: int | None = Field(default=None, ge=1, description="Input + output tokens in one turn.")
    max_tokens_per_session: int | None = Field(default=None, ge=1, description="Input + output tokens in a session.")
    max_cost_per_turn: float | None = Field(default=None, ge=0, description="Currency units one turn may cost.")
    max_cost_per_session: float | None = Field(default=None, ge=0, description="Currency units a session may cost.")
    max_repeats: int = Field(
        default=2, ge=1, le=20,
        description="Times one turn may call the same tool with the same arguments; the next such call ends the turn "
        "(loop detection).",
    )
    tool_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds a tool call may take.")


class ToolGrant(BaseModel):
    """One tool the agent may use, and who may have it used for them."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="A registered tool (`knowledge_search` is built in; see docs/agents.md).")
    roles: list[Role] = Field(default_factory=list, description="Roles the tool is granted to; empty: every role.")
    groups: list[str] = Field(
        default_factory=list, description="Groups the tool is granted to (any one suffices); empty: every group."
    )
    risky: bool = Field(
        default=False,
        description="Pause the turn for the session user's (or a tenant admin's) approval before each call; a tool "
        "registered as risky always pauses, whatever this says.",
    )


class AgentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="The agent's name within its tenant (the `{agent}` of the routes).")
    tenant: str = Field(default="default", description="The tenant the agent belongs to (API: the caller's tenant).")
    model: str = Field(default="auto", description="The model every step asks for, usually a virtual model.")
    instructions: str = Field(default="", description="The system message of every step.")
    tools: list[ToolGrant] = Field(default_factory=list, description="The tools the agent may call, with their grants.")
    collections: list[str] = Field(
        default_factory=list,
        description="Knowledge collections `knowledge_search` may search (with the calling user's ACL); empty: none.",
    )
    limits: Limits = Field(default_factory=Limits, description="Step, loop, token, cost and tool-time limits.")
    memory_embedder: str = Field(
        default="local-embed",
        description="Embedding model of the agent's long-term memories (the `remember` and `recall` tools).",
    )
    description: str = Field(default="", description="Shown in `GET /v1/agents` and `gureum agents list`.")


__all__ = ["NAME_PATTERN", "AgentSettings", "Limits", "ToolGrant"]
