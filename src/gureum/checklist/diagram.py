"""The declared platform drawn: tenants and workloads on the left, the one governed flow, virtual
models, model names and fallbacks, deployments grouped by region, and the shared stores. Edges
that carry data across a residency border (the GRV001/GRV003/GRV004 paths `gureum check` finds)
are drawn red.

Two renderings of one graph: Mermaid text (for Markdown and docs) and a self-contained SVG laid
out here in columns. The SVG is hand-laid rather than produced by Graphviz or mermaid-cli
because both need a program outside Python (and mermaid-cli a browser download) that a console
or CI machine may not have."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

from gureum.checklist.declared import DEFAULTS, DeclaredPlatform
from gureum.checklist.model import Finding
from gureum.checklist.workloads import workloads

COLUMNS = ("tenants", "workloads", "flow", "virtual", "models", "deployments")
_FILL = {"tenants": "#eef3ff", "workloads": "#eefaf0", "flow": "#fff4dd", "virtual": "#f4eefe", "models": "#f6f6f6",
         "deployments": "#ffffff", "stores": "#fff4dd"}


@dataclass
class Node:
    id: str
    label: str  # lines joined by "\n"
    column: str
    group: str | None = None  # deployments: their region


@dataclass
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False
    leak: bool = False


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, source: str, target: str, label: str = "", *, dashed: bool = False, leak: bool = False) -> None:
        if source in self.nodes and target in self.nodes and not any(
                e.source == source and e.target == target for e in self.edges):
            self.edges.append(Edge(source, target, label, dashed, leak))


def _id(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


def build(p: DeclaredPlatform, findings: list[Finding] | None = None) -> Graph:
    s = p.settings
    g = Graph()
    leaks = {f.where for f in findings or [] if f.rule in ("GRV001", "GRV003", "GRV004") and f.suppressed is None}
    leak_deps = {w.rsplit(":", 1)[-1] for w in leaks}
    flow = g.add(Node("flow", "gureum flow\naudit → identify → authorize\n→ guard → limits → cache\n→ route → call",
                      "flow"))
    for t in p.tenants():
        r = p.rules(t)
        label = "other tenants" if t == DEFAULTS else t
        if r.residency:
            label += "\n" + ", ".join(sorted(r.residency))
        g.link(g.add(Node(_id("t", t), label, "tenants")), flow)
    for d in s.deployments:
        price = f"{d.price.input:g}/{d.price.output:g} per 1M" if d.price.input or d.price.output else "no price"
        g.add(Node(_id("d", d.deployment_id), f"{d.deployment_id}\n{d.kind} · tier {d.tier} · {price}", "deployments",
                   d.region))
        g.add(Node(_id("m", d.name), d.name, "models"))
        g.link(_id("m", d.name), _id("d", d.deployment_id), leak=d.deployment_id in leak_deps)
    for name, vm in s.virtual_models.items():
        g.link(flow, g.add(Node(_id("v", name), f"{name}\n{vm.strategy}", "virtual")))
        for i, ref in enumerate(vm.candidates):
            g.link(_id("v", name), _id("m", ref) if ref in {d.name for d in s.deployments} else _id("d", ref), str(i + 1))
    for d in s.deployments:
        if d.kind == "chat":
            g.link(flow, _id("m", d.name))
    for name, targets in s.routing.fallbacks.items():
        for ref in targets:
            crossing = any(w.endswith(f":{name}:{dep.deployment_id}") for w in leaks for dep in p.deployments_of(ref))
            g.link(_id("m", name), _id("m", ref), "fallback", dashed=True, leak=crossing)
    for w in workloads(p):
        if w.kind == "inference":
            continue
        wid = g.add(Node(_id("w", w.name), f"{w.name}\n{w.kind} · {w.shape}", "workloads"))
        col = next((c for c in p.collections if f"rag/{c.name}" == w.name), None)
        if col is None:
            g.link(wid, flow)
            continue
        g.link(_id("t", col.tenant), wid, "owns", dashed=True)
        uses: tuple[tuple[str | None, str], ...] = (
            (col.embedder, "embeds"), (col.answer_model or "auto", "answers"), (col.reranker, "reranks"))
        for use, label in uses:
            if use is None:
                continue
            target = _id("v", use) if use in s.virtual_models else _id("m", use)
            leak = label == "embeds" and any(w2.startswith(col.where) and w2.endswith(tuple(
                f":{dep.deployment_id}" for dep in p.deployments_of(use))) for w2 in leaks if ":" in w2)
            g.link(wid, target, label, leak=leak)
    stores = {"database": "PostgreSQL + pgvector\nkeys · ledger · audit · chunks · cache"}
    if s.redis_url:
        stores["redis"] = "Redis\ncounters · exact cache"
    for store, text in stores.items():
        region = s.check.regions.database if store == "database" else s.check.regions.redis
        region = region or ("local" if store == "database" and not s.database_url else "region undeclared")
        sid = g.add(Node(_id("s", store), f"{text}\n{region}", "flow"))
        g.link(flow, sid, dashed=True, leak=any(w.endswith(f":cache:{store}") for w in leaks))
    return g


def to_mermaid(g: Graph) -> str:
    out = ["flowchart LR"]

    def label(n: Node) -> str:
        return n.label.replace('"', "'").replace("\n", "<br/>")

    regions: dict[str, list[Node]] = {}
    for n in g.nodes.values():
        if n.group is not None:
            regions.setdefault(n.group, []).append(n)
        else:
            shape = ('(["', '"])') if n.column == "flow" else ('["', '"]')
            out.append(f"  {n.id}{shape[0]}{label(n)}{shape[1]}")
    for region, nodes in sorted(regions.items()):
        out.append(f'  subgraph {_id("region", region)}["region {region}"]')
        out.extend(f'    {n.id}["{label(n)}"]' for n in nodes)
        out.append("  end")
    leaks = []
    for i, e in enumerate(g.edges):
        arrow = "-.->" if e.dashed else "-->"
        out.append(f"  {e.source} {arrow}{f'|{e.label}|' if e.label else ''} {e.target}")
        if e.leak:
            leaks.append(str(i))
    if leaks:
        out.append(f"  linkStyle {','.join(leaks)} stroke:#d00,stroke-width:3px")
    return "\n".join(out) + "\n"


W, H, GAP_X, GAP_Y, PAD = 200, 58, 70, 16, 24


def to_svg(g: Graph) -> str:
    """Columns left to right; deployments stacked by region inside a labelled box."""
    pos: dict[str, tuple[float, float]] = {}
    boxes: list[tuple[str, float, float, float]] = []
    for c, column in enumerate(COLUMNS):
        x = float(PAD + c * (W + GAP_X))
        y = PAD + 24.0
        nodes = [n for n in g.nodes.values() if n.column == column]
        for region in sorted({n.group for n in nodes}, key=lambda r: (r is not None, r or "")):
            members = [n for n in nodes if n.group == region]
            top = y
            if region is not None:
                y += 22
            for n in members:
                pos[n.id] = (x, y)
                y += H + GAP_Y
            if region is not None:
                boxes.append((region, x - 8, top, y - top))
                y += 12
    width = PAD * 2 + len(COLUMNS) * (W + GAP_X) - GAP_X
    height = max((yy for _, yy in pos.values()), default=0) + H + PAD * 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>'
           '<marker id="leak" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#d00"/></marker></defs>',
           f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    for c, column in enumerate(COLUMNS):
        out.append(f'<text x="{PAD + c * (W + GAP_X):.0f}" y="{PAD:.0f}" font-weight="bold" fill="#333">{column}</text>')
    for region, bx, by, bh in boxes:
        out.append(f'<rect x="{bx:.0f}" y="{by:.0f}" width="{W + 16}" height="{bh:.0f}" rx="6" fill="#fafafa" '
                   'stroke="#999" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{bx + 8:.0f}" y="{by + 15:.0f}" fill="#555">region {escape(region)}</text>')
    for e in g.edges:
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        sx, sy = x1 + W, y1 + H / 2
        tx, ty = x2, y2 + H / 2
        if x2 <= x1:  # same column: a fallback loops out to the right, a store hangs off the flow's left
            left = g.nodes[e.source].column == "flow"
            sx, tx, bend = (x1, x2, -40.0) if left else (sx, x2 + W, 60.0)
            d = f"M {sx:.0f} {sy:.0f} C {sx + bend:.0f} {sy:.0f}, {tx + bend:.0f} {ty:.0f}, {tx:.0f} {ty:.0f}"
        else:
            mid = (sx + tx) / 2
            d = f"M {sx:.0f} {sy:.0f} C {mid:.0f} {sy:.0f}, {mid:.0f} {ty:.0f}, {tx:.0f} {ty:.0f}"
        color, marker = ("#d00", "leak") if e.leak else ("#777", "arrow")
        dash = ' stroke-dasharray="5 4"' if e.dashed else ""
        out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{2.5 if e.leak else 1.2}"{dash} '
                   f'marker-end="url(#{marker})"/>')
        if e.label:
            out.append(f'<text x="{(sx + tx) / 2:.0f}" y="{(sy + ty) / 2 - 3:.0f}" fill="{color}" '
                       f'text-anchor="middle">{escape(e.label)}</text>')
    for n in g.nodes.values():
        x, y = pos[n.id]
        rx = 18 if n.column == "flow" else 4
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{W}" height="{H}" rx="{rx}" fill="{_FILL[n.column]}" '
                   'stroke="#444"/>')
        lines = n.label.split("\n")[:4]
        for i, line in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            ty = y + H / 2 + (i - (len(lines) - 1) / 2) * 13 + 4
            out.append(f'<text x="{x + W / 2:.0f}" y="{ty:.0f}" text-anchor="middle"{weight}>{escape(line[:34])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


__all__ = ["Edge", "Graph", "Node", "build", "to_mermaid", "to_svg"]
