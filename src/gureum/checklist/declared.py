"""The declared platform as a graph the rules walk: tenants and their policies, collections
(declared in the file or read from a running platform), virtual models, model names, fallbacks
and deployments with their regions — and where each of them is written in gureum.yaml.

The routing plan is resolved here from the settings alone, as `routing.catalog.Catalog.plan`
resolves it at run time (a model's own deployments, then `routing.fallbacks`; a virtual model's
candidates in order): the catalog needs live provider adapters, a check needs none."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from gureum.config import DeploymentSettings, Settings
from gureum.governance.policy import Policy, TenantRules
from gureum.yaml_source import YamlSource

DEFAULTS = "*"  # the pseudo-tenant `governance.defaults` describes: every tenant not listed
RAG_PREFIX = "rag/"


@dataclass(frozen=True)
class CollectionView:
    tenant: str
    name: str
    embedder: str | None
    residency: str | None
    default_acl: tuple[str, ...] | None  # None: not written (the default `*` applies)
    pii_policy: str
    answer_model: str | None
    reranker: str | None
    path: tuple[str | int, ...] | None  # in the file; None for one read from a running platform

    @property
    def where(self) -> str:
        return f"collections[{self.tenant}/{self.name}]"


@dataclass(frozen=True)
class KeyView:
    id: str
    tenant_id: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class Hop:
    """One deployment a request for `model` may reach, and how: `via` is the chain of names."""

    deployment: DeploymentSettings
    index: int
    via: tuple[str, ...]


@dataclass
class DeclaredPlatform:
    settings: Settings
    origin: str  # the file checked, or the URL of the running platform
    source: YamlSource | None = None
    collections: list[CollectionView] = field(default_factory=list)
    keys: list[KeyView] | None = None  # only a running platform knows its keys
    live_tenants: list[str] = field(default_factory=list)
    live_url: str | None = None

    def __post_init__(self) -> None:
        self.policy = Policy(self.settings.governance)
        if not self.collections:
            self.collections = [
                CollectionView(c.tenant, c.name, c.embedder or self.default_embedder(), c.residency,
                               tuple(c.default_acl) if c.default_acl is not None else None, c.pii_policy,
                               c.answer_model, c.reranker, ("collections", i))
                for i, c in enumerate(self.settings.collections)
            ]

    # --- positions -------------------------------------------------------------------------
    def position(self, path: tuple[str | int, ...] | None) -> tuple[int, int] | None:
        if self.source is None or path is None:
            return None
        pos, _ = self.source.at(path)
        return (pos.line, pos.column) if pos is not None else None

    def written(self, path: tuple[str | int, ...]) -> bool:
        """Whether the file writes this key itself (rather than leaving the default)."""
        if self.source is None:
            return False
        _, found = self.source.at(path)
        return found == len(path)

    def raw(self, path: tuple[str | int, ...]) -> Any:
        """The value as written in the file, before `${VAR}` expansion (None when absent)."""
        node: Any = self.source.data if self.source is not None else None
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    # --- catalog ---------------------------------------------------------------------------
    def default_embedder(self) -> str | None:
        names = [d.name for d in self.settings.deployments if d.kind == "embedding"]
        return "local-embed" if "local-embed" in names else (names[0] if names else None)

    def deployment_index(self, dep: DeploymentSettings) -> int:
        return next(i for i, d in enumerate(self.settings.deployments) if d is dep)

    def deployments_of(self, ref: str, kind: str | None = None) -> list[DeploymentSettings]:
        deps = [d for d in self.settings.deployments if ref in (d.name, d.deployment_id)]
        return [d for d in deps if kind is None or d.kind == kind]

    def known_model(self, ref: str) -> bool:
        return bool(self.deployments_of(ref)) or ref in self.settings.virtual_models

    def plan(self, model: str, kind: str = "chat") -> list[Hop]:
        """Every deployment a request for `model` may be served by, in fallback order."""
        vm = self.settings.virtual_models.get(model)
        refs = [(r, (model, r)) for r in vm.candidates] if vm else [
            (model, (model,)), *((f, (model, f"fallback {f}")) for f in self.settings.routing.fallbacks.get(model, []))
        ]
        out: list[Hop] = []
        seen: set[str] = set()
        for ref, via in refs:
            for d in self.deployments_of(ref, kind):
                if d.deployment_id not in seen:
                    seen.add(d.deployment_id)
                    out.append(Hop(d, self.deployment_index(d), via))
        return out

    # --- tenants ---------------------------------------------------------------------------
    def tenants(self) -> list[str]:
        named = set(self.settings.governance.tenants) | {c.tenant for c in self.collections} | set(self.live_tenants)
        named.discard("root")  # the platform's own tenant: admins and auditors, no model traffic of its own
        return [*sorted(named), DEFAULTS]

    def rules(self, tenant: str) -> TenantRules:
        # A tenant name nobody uses resolves to the defaults alone.
        return self.policy.for_tenant("\0defaults" if tenant == DEFAULTS else tenant)

    def tenant_path(self, tenant: str) -> tuple[str, ...]:
        if tenant != DEFAULTS and tenant in self.settings.governance.tenants:
            return ("governance", "tenants", tenant)
        return ("governance", "defaults")

    def tenant_label(self, tenant: str) -> str:
        return "every tenant not listed (governance.defaults)" if tenant == DEFAULTS else f"tenant '{tenant}'"

    def tenant_where(self, tenant: str) -> str:
        return f"tenants.{tenant}"

    def patterns(self, tenant: str) -> tuple[str, ...] | None:
        """Every model pattern some member of the tenant may use (any group)."""
        r = self.rules(tenant)
        if r.allowed_models is None:
            return None
        return (*r.allowed_models, *(p for ps in r.group_models.values() for p in ps))

    def may_request(self, tenant: str, model: str) -> bool:
        pats = self.patterns(tenant)
        return pats is None or any(fnmatchcase(model, p) for p in pats)

    def requestable(self, tenant: str, kind: str = "chat") -> list[str]:
        """Model names the tenant may ask for: plain names of `kind` and virtual models."""
        names = dict.fromkeys(d.name for d in self.settings.deployments if d.kind == kind)
        names.update(dict.fromkeys(self.settings.virtual_models))
        return [n for n in names if self.may_request(tenant, n) and self.plan(n, kind)]

    def reachable(self, tenant: str, model: str, kind: str = "chat") -> list[Hop]:
        """`plan(model)` cut by the tenant's allow-list as `Policy.allowed_plan` cuts it: an allowed
        virtual model allows its candidates; a plain model's fallbacks must be allowed themselves."""
        hops = self.plan(model, kind)
        pats = self.patterns(tenant)
        if pats is None or (model in self.settings.virtual_models and self.may_request(tenant, model)):
            return hops
        return [h for h in hops if any(fnmatchcase(h.deployment.name, p) or fnmatchcase(h.deployment.deployment_id, p)
                                       for p in pats)]

    def allowed_regions(self, tags: set[str]) -> tuple[set[str] | None, list[str]]:
        return self.policy.allowed_regions(tags)

    def collections_of(self, tenant: str) -> list[CollectionView]:
        return [c for c in self.collections if c.tenant == tenant]


__all__ = ["DEFAULTS", "CollectionView", "DeclaredPlatform", "Hop", "KeyView"]
