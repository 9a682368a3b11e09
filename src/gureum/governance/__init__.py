"""Governance: identity, PII, policy, budgets, limits, ledger and audit."""
