"""The token economy outside the cache: context budgets (`fit_passages`, `compact`), usage and
cost reports, and their settings. Cost-aware routing lives in `gureum.routing.auto`."""

from gureum.economy.context import compact, fit_passages
from gureum.economy.settings import EconomySettings

__all__ = ["EconomySettings", "compact", "fit_passages"]
