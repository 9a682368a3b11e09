"""`gureum diagram`: Mermaid and SVG from the same graph; regions as groups, residency-crossing
paths (what `gureum check` finds) drawn red, clean ones not."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gureum.checklist import diagram, engine, load
from gureum.cli import app
from tests.checklist.helpers import BASE, config, write

LEAKY = config(collections=[{**BASE["collections"][0], "embedder": "oa-embed"}])
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")


def _graph(tmp_path: Path, data: dict[str, object]) -> diagram.Graph:
    p = load.from_file(write(tmp_path, data))
    return diagram.build(p, engine.run(p))


def test_mermaid_groups_regions_and_marks_the_leak(tmp_path: Path) -> None:
    text = diagram.to_mermaid(_graph(tmp_path, LEAKY))
    assert text.startswith("flowchart LR\n")
    assert 'subgraph region_kr["region kr"]' in text and 'subgraph region_us["region us"]' in text
    assert "w_rag_handbook -->|embeds| m_oa_embed" in text
    leaky = [line for line in text.splitlines() if line.strip().startswith("linkStyle")]
    edges = [line.strip() for line in text.splitlines() if "-->" in line or "-.->" in line]
    [style] = leaky
    marked = [edges[int(i)] for i in style.split()[1].split(",")]
    assert "w_rag_handbook -->|embeds| m_oa_embed" in marked and "m_oa_embed --> d_oa_embed_openai" in marked
    assert "linkStyle" not in diagram.to_mermaid(_graph(tmp_path, BASE))
    assert "m_claude -.->|fallback| m_haiku" in text


def test_svg_is_well_formed_with_a_box_per_node(tmp_path: Path) -> None:
    g = _graph(tmp_path, LEAKY)
    root = ET.fromstring(diagram.to_svg(g))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for node in g.nodes.values():
        assert node.label.split("\n")[0][:34] in texts
    red = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == "#d00"]
    assert len(red) == sum(e.leak for e in g.edges) >= 2
    assert "region us" in texts and "region kr" in texts


def test_cli_writes_both(tmp_path: Path) -> None:
    path = write(tmp_path, LEAKY)
    out = CliRunner().invoke(app, ["diagram", str(path)])
    assert out.exit_code == 0 and out.output.startswith("flowchart LR")
    svg = tmp_path / "arch.svg"
    res = CliRunner().invoke(app, ["diagram", str(path), "-f", "svg", "-o", str(svg)])
    assert res.exit_code == 0 and ET.parse(svg).getroot().tag == f"{SVG}svg"
    missing = CliRunner().invoke(app, ["diagram", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
