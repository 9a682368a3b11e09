"""The web console: server-rendered pages over the same scoped queries the JSON APIs use."""

from gureum.console.api import install_handlers, mount

__all__ = ["install_handlers", "mount"]
