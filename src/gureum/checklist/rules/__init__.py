"""The built-in rules, one module per question; importing a module registers its rules."""

from __future__ import annotations

import importlib

BUILTIN = ("workloads", "gravity", "security", "cost")


def load() -> None:
    for name in BUILTIN:
        importlib.import_module(f"gureum.checklist.rules.{name}")


__all__ = ["BUILTIN", "load"]
