"""Agents on the governed flow: definitions, sessions in PostgreSQL, the tool-calling loop, tools
with grants and approvals, and limits (docs/agents.md). `gureum.agents.tools.tool` registers a
tool; the runtime is `gureum.agents.service.AgentRuntime`."""
