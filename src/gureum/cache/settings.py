"""Cache settings: the `cache:` section of gureum.yaml.

The policy in one paragraph (docs/token-economy.md has the long form): a chat request is served
from cache only when it asks for a reproducible answer — `n` is 1 and `temperature` is 0 (also
unset, if `cache_unset_temperature` is on) — and only successful, complete answers are stored (finish_reason `stop` or
`length`; tool calls only when `cache_tool_calls` is on). Every hit is scoped to the tenant (or the
user), the model, the whole conversation before the last user turn (system prompt included), the
tool set and every parameter that can change the output; for `rag/` models also to the caller's
ACL principals and the collection's generation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Share = Literal["tenant", "user"]


class TenantCachePolicy(BaseModel):
    """Per-tenant overrides; unset fields inherit the global value."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = Field(default=None, description="Cache this tenant's requests at all.")
    semantic: bool | None = Field(default=None, description="Allow semantic (paraphrase) hits for this tenant.")
    false_hit_budget: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Share of near misses this tenant's semantic cache may serve (sets its decision threshold).",
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Decision probability a semantic hit needs for this tenant; overrides `false_hit_budget`.",
    )
    ttl: int | None = Field(default=None, description="Seconds an entry lives for this tenant.")
    share: Share | None = Field(
        default=None, description="`tenant`: users of the tenant share entries; `user`: each user has their own."
    )


class CollectionCachePolicy(BaseModel):
    """Per-collection overrides for `rag/<collection>` models."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = Field(default=None, description="Cache answers of this collection at all.")
    semantic: bool | None = Field(default=None, description="Allow semantic hits on this collection's answers.")
    false_hit_budget: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Share of near misses this collection's semantic cache may serve."
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Decision probability a semantic hit needs on this collection; overrides `false_hit_budget`.",
    )
    ttl: int | None = Field(default=None, description="Seconds an answer of this collection lives.")


class CacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(default=True, description="Master switch for the response caches.")
    exact: bool = Field(default=True, description="Exact cache on the normalised (PII-masked) request.")
    semantic: bool = Field(
        default=True, description="Semantic cache on the meaning of the last user turn (embedded with e5-small)."
    )
    ttl: int = Field(default=86_400, ge=1, description="Seconds an entry lives (per tenant/collection overridable).")
    false_hit_budget: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Share of near misses (requests that need another answer) the semantic cache may serve. The "
        "equivalence model's threshold is the lowest that keeps to this on its calibration pairs "
        "(bench/cache_train.py; figures in docs/benchmarks.md). Per tenant and per collection overridable.",
    )
    semantic_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Fixed decision probability (0–1) a semantic hit needs, instead of the one derived from "
        "`false_hit_budget`. Unset by default.",
    )
    shadow_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of semantic hits also sent to the model as a governed `shadow` sub-call (costed and "
        "audited like any call) whose answer is compared with the served one: the live false-hit estimate per "
        "tenant in /metrics and `gureum usage`, which tightens the threshold when it passes the budget. Off by "
        "default because each sample is a paid model call; 0.02 is a reasonable start.",
    )
    shadow_answer_similarity: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="A shadow answer whose e5 cosine to the served answer is below this (or that disagrees on a "
        "number or a negation) counts as a false hit.",
    )
    shadow_window: int = Field(
        default=500, ge=1, description="Shadow comparisons per tenant kept for the live false-hit estimate."
    )
    shadow_min_compared: int = Field(
        default=30,
        ge=1,
        description="Comparisons a tenant needs before its live false-hit estimate may tighten its threshold.",
    )
    semantic_max_chars: int = Field(
        default=1000, description="Longer last turns get exact caching only (an embedding cannot vouch for them)."
    )
    max_temperature: float = Field(
        default=0.0, description="Cache requests whose temperature is at most this (0 = deterministic only)."
    )
    cache_unset_temperature: bool = Field(
        default=False,
        description="Also cache requests that send no temperature. Off by default: an unset temperature means the "
        "provider's default sampling (1.0 at OpenAI), so only requests that ask for determinism are cached.",
    )
    cache_tool_calls: bool = Field(
        default=False, description="Store answers that are tool calls (off: agent loops expect fresh decisions)."
    )
    share: Share = Field(default="tenant", description="Default sharing scope of an entry: tenant or user.")
    lru_entries: int = Field(default=4096, ge=0, description="Entries in the in-process LRU in front of the store.")
    lru_ttl: float = Field(
        default=60.0, description="Seconds an LRU entry is trusted before the shared store is asked again."
    )
    store_timeout: float = Field(
        default=0.5, description="Seconds a cache read or write may take before it is skipped (never fails a call)."
    )
    semantic_timeout: float = Field(
        default=1.0, description="Seconds a semantic lookup (embedding + vector search) may take before it is a miss."
    )
    tenants: dict[str, TenantCachePolicy] = Field(default_factory=dict, description="Per-tenant overrides.")
    collections: dict[str, CollectionCachePolicy] = Field(
        default_factory=dict, description="Per-collection overrides for `rag/<collection>` models."
    )
