"""Settings: `gureum.yaml` (or `--config`, or `GUREUM_CONFIG`) overlaid by `GUREUM_*` environment
variables (nested keys with `__`, e.g. `GUREUM_ROUTING__RETRIES=1`). `${VAR}` inside YAML strings
reads the environment, so keys never need to be written into the file.

Every field's description is the config reference: `gureum config reference` prints it and
docs/configuration.md is generated from it.
"""

from __future__ import annotations

import os
import re
import types
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gureum.agents.settings import AgentSettings
from gureum.cache.settings import CacheSettings
from gureum.checklist.settings import CheckSettings
from gureum.economy.settings import EconomySettings
from gureum.governance.settings import GovernanceSettings
from gureum.jobs.settings import JobSettings
from gureum.knowledge.declared import DeclaredCollection
from gureum.observability.settings import MetricsSettings, TracingSettings
from gureum.providers.base import ProviderSettings
from gureum.yaml_source import YamlSource
from gureum.yaml_source import parse as parse_yaml


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = Field(default=0.0, description="Currency units per 1M input tokens.")
    output: float = Field(default=0.0, description="Currency units per 1M output tokens.")
    cached_input: float | None = Field(
        default=None, description="Per 1M input tokens read from the provider's prompt cache (default: input price)."
    )
    cache_write: float | None = Field(
        default=None, description="Per 1M input tokens written to the provider's prompt cache (default: input price)."
    )


ContentKind = Literal["text", "image", "audio", "file"]


def _text_and_images() -> list[ContentKind]:
    return ["text", "image"]


class DeploymentSettings(BaseModel):
    """One concrete model at one provider. Deployments sharing a `name` are load-balanced."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Public model name clients ask for; several deployments may share it.")
    provider: str = Field(description="Key of an entry under `providers:`.")
    model: str = Field(description="The provider's own model id.")
    id: str | None = Field(default=None, description="Unique deployment id (default: name@provider).")
    kind: Literal["chat", "embedding", "rerank"] = Field(
        default="chat",
        description="What the deployment serves: `chat`, `embedding`, or `rerank` (scores passages against a query; "
        "a collection's `reranker` names one, see docs/knowledge.md).",
    )
    price: Price = Field(default_factory=Price, description="Price per 1M tokens.")
    context_window: int = Field(default=8192, description="Maximum input + output tokens.")
    max_output_tokens: int = Field(default=4096, description="Default worst case for budget reservation.")
    region: str = Field(default="local", description="Where the data goes: e.g. kr, us, eu, local.")
    tier: int = Field(default=1, description="Quality tier, 1 (basic) to 5 (frontier); `auto` routing uses it.")
    dimensions: int | None = Field(default=None, description="Embedding size (embedding deployments).")
    inputs: list[ContentKind] = Field(
        default_factory=_text_and_images,
        description="Content part kinds the model reads (chat). A request with parts no deployment of its model reads "
        "is refused (400) instead of having them dropped.",
    )
    max_inputs: int = Field(
        default=64, ge=1, description="Most texts one embedding call sends; the knowledge layer splits larger batches."
    )
    description: str = Field(default="", description="Shown in /v1/models metadata.")
    timeout: float | None = Field(default=None, description="Per-call timeout override in seconds.")

    @property
    def deployment_id(self) -> str:
        return self.id or f"{self.name}@{self.provider}"


class VirtualModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: list[str] = Field(description="Model names (or deployment ids) in fallback order.")
    strategy: Literal["ordered", "cost"] = Field(
        default="ordered",
        description="`ordered`: first healthy candidate, then the next on failure. `cost`: cheapest candidate whose "
        "tier meets the request's estimated difficulty.",
    )
    description: str = Field(default="", description="Shown in /v1/models metadata.")


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retries: int = Field(default=1, description="Retries on the same deployment before falling back.")
    backoff_base: float = Field(default=0.05, description="First retry delay in seconds (full jitter, doubling).")
    backoff_max: float = Field(default=2.0, description="Largest retry delay in seconds.")
    breaker_failures: int = Field(default=5, description="Consecutive failures that open a deployment's circuit.")
    breaker_cooldown: float = Field(default=30.0, description="Seconds an open circuit waits before a trial call.")
    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="Model name → model names to try, in order, when all its deployments fail."
    )


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool_size: int = Field(default=10, description="Connections per process.")
    audit_batch_max: int = Field(default=500, description="Most audit/ledger events written in one transaction.")
    embedded_server: dict[str, str] = Field(
        default_factory=dict,
        description="postgresql.conf settings of the embedded server, applied with ALTER SYSTEM at start, e.g. "
        "`{shared_buffers: 4GB}` for a large collection (docs/knowledge.md); one read only at start restarts the "
        "server when no other process uses it. Unless set here, shared_buffers is 25% of the memory the process may "
        "use (the machine's, or its cgroup's limit), at least 128MB and at most 4096MB. Ignored with `database_url`: "
        "configure that server itself.",
    )


class RefError(ValueError):
    """A reference to something not declared; `loc` is the key that holds it (a model validator's
    own errors carry no location)."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUREUM_", env_nested_delimiter="__", extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address `gureum serve` binds.")
    port: int = Field(default=8000, description="Port `gureum serve` binds.")
    data_dir: Path = Field(default=Path(".gureum"), description="Where the embedded PostgreSQL and files live.")
    database_url: str | None = Field(
        default=None, description="External PostgreSQL (with pgvector) URL; unset = embedded server under data_dir."
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for limits, budgets and caches shared by replicas; unset = in-process."
    )
    admin_key: str | None = Field(
        default=None, description="Initial admin API key, used when the store has no keys yet (else one is generated)."
    )
    max_body_bytes: int = Field(default=8 * 1024 * 1024, description="Largest accepted request body (413 above).")
    request_timeout: float = Field(default=120.0, description="Upper bound in seconds for one request end to end.")
    shutdown_grace: float = Field(default=20.0, description="Seconds in-flight requests get to finish on shutdown.")
    preload_models: bool = Field(
        default=False,
        description="Load the Korean analyser (~230 MB) and the local embedder in the background at start-up instead "
        "of on first use: the first Korean request then waits for nothing, at the price of the memory up front.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    log_format: Literal["json", "text"] = Field(default="json", description="Log lines as JSON or plain text.")
    tracing: TracingSettings = Field(
        default_factory=TracingSettings, description="OpenTelemetry traces of the flow (off unless an OTLP endpoint is set)."
    )
    metrics: MetricsSettings = Field(
        default_factory=MetricsSettings, description="Prometheus `/metrics` (open unless a token is set)."
    )
    providers: dict[str, ProviderSettings] = Field(default_factory=dict, description="Provider endpoints by name.")
    deployments: list[DeploymentSettings] = Field(default_factory=list, description="The model catalog.")
    virtual_models: dict[str, VirtualModelSettings] = Field(
        default_factory=dict, description="Virtual model names (auto, fast, smart, …) → candidates."
    )
    routing: RoutingSettings = Field(default_factory=RoutingSettings, description="Retries, breakers, fallbacks.")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Store tuning.")
    governance: GovernanceSettings = Field(
        default_factory=GovernanceSettings,
        description="PII actions, model allow-lists, data residency, budgets, rate limits and audit text (docs/governance.md).",
    )
    cache: CacheSettings = Field(
        default_factory=CacheSettings,
        description="Response caches: exact and semantic, policy, TTLs, per-tenant and per-collection overrides "
        "(docs/token-economy.md).",
    )
    economy: EconomySettings = Field(
        default_factory=EconomySettings,
        description="Cost-aware routing of `cost` virtual models (auto), context budgets, the difficulty model "
        "(docs/token-economy.md).",
    )
    collections: list[DeclaredCollection] = Field(
        default_factory=list,
        description="Knowledge collections declared up front: `gureum check` checks them, `gureum ingest` creates "
        "them from here on first use (docs/architecture-checklist.md).",
    )
    agents: list[AgentSettings] = Field(
        default_factory=list,
        description="Agents declared up front, each in its tenant (more can be created with `POST /v1/agents`; "
        "docs/agents.md).",
    )
    check: CheckSettings = Field(
        default_factory=CheckSettings,
        description="`gureum check`: suppressions (with reason and expiry), where the stores live, the key-expiry "
        "policy (docs/architecture-checklist.md).",
    )
    jobs: JobSettings = Field(
        default_factory=JobSettings,
        description="The job queue and `gureum worker`: leases, heartbeats, retries, checkpoints (docs/jobs.md).",
    )
    config_path: Path | None = Field(default=None, description="The YAML file these settings came from.")

    @model_validator(mode="after")
    def _check_refs(self) -> Settings:
        for i, d in enumerate(self.deployments):
            if d.provider not in self.providers:
                known = ", ".join(sorted(self.providers)) or "none: add one under `providers:`"
                raise RefError(f"deployment '{d.deployment_id}' names unknown provider '{d.provider}' "
                               f"(providers: {known})", ("deployments", i, "provider"))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats init values (the YAML file), as the docs promise.
        return (env_settings, init_settings)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


class ConfigError(Exception):
    """The configuration file is unreadable or invalid; the message says where and how to fix it."""


def load_settings(path: Path | str | None = None, *, use_file: bool = True, **overrides: Any) -> Settings:
    """Settings from `path` (else $GUREUM_CONFIG, else ./gureum.yaml if present), then `overrides`
    (non-None values), then the environment. `use_file=False` ignores every file (tests)."""
    explicit = path or os.environ.get("GUREUM_CONFIG")
    cfg_path = Path(explicit) if explicit else Path("gureum.yaml")
    data: dict[str, Any] = {}
    source: YamlSource | None = None
    if use_file and cfg_path.exists():
        source = read_source(cfg_path)
        data = _expand(source.data)
        data["config_path"] = cfg_path
    elif use_file and explicit:
        raise ConfigError(f"config file {cfg_path} does not exist (pass --config PATH or unset GUREUM_CONFIG)")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, source, cfg_path)) from exc
    except ValueError as exc:  # pydantic-settings' own (e.g. a GUREUM_* value that is not JSON)
        raise ConfigError(f"{cfg_path}: invalid configuration: {exc}") from exc
    return with_defaults(settings)


def read_source(cfg_path: Path) -> YamlSource:
    """The file parsed with key positions; ConfigError when unreadable or not a mapping."""
    try:
        source = parse_yaml(cfg_path.read_text(encoding="utf-8"), cfg_path)
    except OSError as exc:
        raise ConfigError(f"{cfg_path}: cannot read it: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg_path}: not valid YAML: {exc}") from exc
    if source.data is None:
        source.data = {}
    if not isinstance(source.data, dict):
        raise ConfigError(f"{cfg_path}: the top level must be a mapping of settings (key: value lines)")
    return source


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The settings model that holds the last part of `loc` (to suggest its real keys)."""
    import typing

    def unwrap(tp: Any) -> Any:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1 else tp

    tp: Any = Settings
    for part in loc[:-1]:
        tp = unwrap(tp)
        if typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[str(part)].annotation
        else:
            return None
    tp = unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "string": "text (quote it)"}


def _hint(err: Any, loc: tuple[str | int, ...]) -> str:
    """What to write instead, for the error kinds people make by hand."""
    import difflib

    kind = err["type"]
    if kind == "extra_forbidden" and loc:
        model = _model_at(loc)
        keys = [k for k in (model.model_fields if model else {}) if k != "config_path"]
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        if close:
            return f"did you mean `{close[0]}`?"
        return f"remove it; this section takes: {', '.join(keys)}" if keys else "remove it"
    if kind == "missing":
        return f"add `{loc[-1]}:`" if loc else ""
    if kind == "literal_error":
        return f"write one of {err['ctx']['expected']}"
    word = _TYPE_WORDS.get(kind.split("_")[0])
    if word and kind.endswith(("_parsing", "_type")):
        return f"write {word}"
    return ""


def _where(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))


def explain(exc: ValidationError, source: YamlSource | None, cfg_path: Path) -> str:
    """One line per error: file:line:column, the key, what is wrong, and what to write instead."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, RefError):
            loc = cause.loc
        message = str(cause) if cause is not None else err["msg"]
        pos, found = source.at(loc) if source is not None and loc else (None, 0)
        if pos is not None and found == len(loc):
            where = f"{cfg_path}:{pos.line}:{pos.column}"
        elif pos is not None:
            where = f"{cfg_path}:{pos.line}:{pos.column} (in `{_where(loc[:found])}`)"
        else:
            where = f"{cfg_path} (or a GUREUM_* environment variable)" if source is not None else "settings"
        hint = _hint(err, loc)
        key = f"`{_where(loc)}`: " if loc else ""
        lines.append(f"{where}: {key}{message}" + (f" — {hint}" if hint else ""))
    return "invalid configuration:\n" + "\n".join(f"  {line}" for line in lines)


def with_defaults(settings: Settings) -> Settings:
    """With no catalog configured, serve the embedded offline models so `gureum serve` works
    with no keys and no network."""
    if settings.deployments:
        return settings
    from gureum.providers.local import default_catalog

    local = default_catalog()
    return settings.model_copy(
        update={
            "providers": {**{k: ProviderSettings.model_validate(v) for k, v in local["providers"].items()},
                          **settings.providers},
            "deployments": [DeploymentSettings.model_validate(d) for d in local["deployments"]],
            "virtual_models": {**{k: VirtualModelSettings.model_validate(v) for k, v in local["virtual_models"].items()},
                               **settings.virtual_models},
        }
    )
