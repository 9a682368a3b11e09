"""The caps of a turn, read from the session's durable counters before every model and tool
call: a turn resumed on another replica, or after an approval, keeps counting where it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gureum.agents.settings import Limits


@dataclass(frozen=True, slots=True)
class Reached:
    code: str
    message: str


def reached(limits: Limits, session: dict[str, Any], steps: int, *, before_model: bool) -> Reached | None:
    """The first cap the session has reached, or None. `steps` counts this turn's model calls."""
    if before_model and steps >= limits.max_steps:
        return Reached("max_steps", f"the turn reached its limit of {limits.max_steps} model steps")
    caps = (
        ("max_tokens_per_turn", limits.max_tokens_per_turn, session["turn_tokens"], "tokens in this turn"),
        ("max_tokens_per_session", limits.max_tokens_per_session, session["tokens"], "tokens in this session"),
        ("max_cost_per_turn", limits.max_cost_per_turn, session["turn_cost"], "cost in this turn"),
        ("max_cost_per_session", limits.max_cost_per_session, session["cost"], "cost in this session"),
    )
    for code, cap, used, what in caps:
        if cap is not None and used >= cap:
            return Reached(code, f"the {what} reached its limit ({used:g} of {cap:g})")
    return None


__all__ = ["Reached", "reached"]
