"""Job types: one table, filled by `register`; built-ins and extensions register the same way.

A type may name the roles allowed to submit it over the API and a pydantic model of its
parameters, so a bad submission is refused at once (400 naming the parameter) instead of failing
later in a worker."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from gureum.errors import InvalidRequest
from gureum.governance.principal import Role

if TYPE_CHECKING:
    from gureum.jobs.context import JobContext

Handler = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class JobType:
    name: str
    handler: Handler
    roles: tuple[Role, ...]
    params: type[BaseModel] | None

    def parse(self, params: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The parameters checked against the type's model (defaults filled in), or a 400.
        `context` reaches the model's validators (the submitting principal and the settings, for
        checks that depend on who submits)."""
        if self.params is None:
            return params
        try:
            return self.params.model_validate(params, context=context).model_dump(mode="json")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise InvalidRequest(f"Invalid parameter '{where}' for a {self.name} job: {first['msg']}.",
                                 param=f"params.{where}" if where else "params", code="invalid_job_params") from None


_TYPES: dict[str, JobType] = {}


def register(name: str, *, roles: tuple[Role, ...] = (Role.ADMIN, Role.MEMBER),
             params: type[BaseModel] | None = None) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _TYPES[name] = JobType(name, fn, roles, params)
        return fn

    return deco


def get(name: str) -> JobType | None:
    return _TYPES.get(name)


def handler(name: str) -> Handler | None:
    t = _TYPES.get(name)
    return t.handler if t else None


def types() -> list[str]:
    return sorted(_TYPES)
