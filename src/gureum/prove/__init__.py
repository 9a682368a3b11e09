"""The reliability suite (`gureum prove`): load, faults, bad input and isolation against real
processes on loopback, one module per part; `suite` runs them and prints what held."""

__all__ = ["checks", "harness", "suite", "system"]
