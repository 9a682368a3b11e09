"""Settings: `gureum.yaml` (or `--config`, or `GUREUM_CONFIG`) overlaid by `GUREUM_*` environment
variables (nested keys with `__`, e.g. `GUREUM_ROUTING__RETRIES=1`). `${VAR}` inside YAML strings
reads the environment, so keys never need to be written into the file.

Every field's description is the config reference: `gureum config reference` prints it and
docs/configuration.md is generated from it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gureum.cache.settings import CacheSettings
from gureum.economy.settings import EconomySettings
from gureum.governance.settings import GovernanceSettings
from gureum.providers.base import ProviderSettings


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
        "server when no other process uses it. Ignored with `database_url`: configure that server itself.",
    )


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
    config_path: Path | None = Field(default=None, description="The YAML file these settings came from.")

    @model_validator(mode="after")
    def _check_refs(self) -> Settings:
        for d in self.deployments:
            if d.provider not in self.providers:
                raise ValueError(f"deployment '{d.deployment_id}' names unknown provider '{d.provider}'")
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
    if use_file and cfg_path.exists():
        try:
            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{cfg_path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{cfg_path}: the top level must be a mapping of settings")
        data = _expand(loaded)
        data["config_path"] = cfg_path
    elif use_file and explicit:
        raise ConfigError(f"config file {cfg_path} does not exist (pass --config PATH or unset GUREUM_CONFIG)")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**data)
    except ValueError as exc:
        raise ConfigError(f"{cfg_path}: invalid configuration:\n{exc}") from exc
    return with_defaults(settings)


def with_defaults(settings: Settings) -> Settings:
    """With no catalog configured, serve the embedded offline models so `gureum serve` works
    with no keys and no network."""
    if settings.deployments:
        return settings
    from gureum.providers.local import default_catalog

    providers, deployments, virtual = default_catalog()
    return settings.model_copy(
        update={
            "providers": {**providers, **settings.providers},
            "deployments": deployments,
            "virtual_models": {**virtual, **settings.virtual_models},
        }
    )
