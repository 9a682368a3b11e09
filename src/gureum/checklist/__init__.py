"""The architect's checklist (the seed's conclusion): `gureum check` answers workload definition,
data gravity, flow security and cost architecture against the declared platform (gureum.yaml)
and, with `--live`, a running one.

- `model`: findings, rules and the `@rule` registration hook
- `declared`: the declared platform as a graph (tenants, collections, routes, regions)
- `workloads`: workload kinds (`@workload_kind`), so agents and jobs plug in
- `rules/`: the built-in rules, one module per question
- `engine`: running the rules and the suppressions
- `report`: Rich text, JSON, SARIF 2.1.0
- `load`: reading a file, a running platform, or both
- `diagram`: the same graph as Mermaid and SVG

Submodules are imported where used: `gureum.config` imports `checklist.settings`, which must not
pull the rest in."""
