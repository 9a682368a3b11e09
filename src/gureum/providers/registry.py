"""One table from adapter kind to factory. Built-in adapters register exactly like extensions,
and this is the only place that knows adapter names."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import httpx

from gureum.errors import InvalidRequest
from gureum.providers.base import Provider, ProviderSettings

Factory = Callable[[str, ProviderSettings, httpx.AsyncClient], Provider]

_FACTORIES: dict[str, Factory] = {}

# kind -> module that registers it on import; imported lazily so an unused SDK costs nothing.
_BUILTINS = {
    "openai": "gureum.providers.openai_compat",
    "anthropic": "gureum.providers.anthropic",
    "bedrock": "gureum.providers.bedrock",
    "gemini": "gureum.providers.gemini",
    "local": "gureum.providers.local",
}


def register(kind: str) -> Callable[[Factory], Factory]:
    def deco(factory: Factory) -> Factory:
        _FACTORIES[kind] = factory
        return factory

    return deco


def create(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    if settings.kind not in _FACTORIES and settings.kind in _BUILTINS:
        importlib.import_module(_BUILTINS[settings.kind])
    factory = _FACTORIES.get(settings.kind)
    if factory is None:
        known = ", ".join(sorted(set(_FACTORIES) | set(_BUILTINS)))
        raise InvalidRequest(f"provider '{name}': unknown kind '{settings.kind}' (known: {known})")
    return factory(name, settings, http)


def kinds() -> list[str]:
    return sorted(set(_FACTORIES) | set(_BUILTINS))
