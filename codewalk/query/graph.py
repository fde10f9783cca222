"""Call/inheritance neighbourhoods as a networkx DiGraph, and exports (mermaid, dot, json)."""

from __future__ import annotations

import json
from collections import deque

import networkx as nx

from codewalk.query.lookup import Entity
from codewalk.query.resolve import Edge, Resolver


def _node(g: nx.DiGraph, entity: Entity, index_path: str) -> str:
    key = entity.key
    if key not in g:
        g.add_node(key, qname=entity.qname, kind=entity.kind, language=entity.language,
                   path=index_path, line=entity.primary["line"])
    return key


def _edge(g: nx.DiGraph, src: str, dst: str, line: int, resolution: str) -> None:
    """One edge per (caller, callee) pair: call lines collected on it, the surest resolution
    kept (exact over dispatch over heuristic)."""
    if g.has_edge(src, dst):
        data = g.edges[src, dst]
        if line not in data["lines"]:
            data["lines"].append(line)
            data["lines"].sort()
        if _RANK[resolution] < _RANK[data["resolution"]]:
            data["resolution"] = resolution
            data["heuristic"] = resolution == "heuristic"
        return
    g.add_edge(src, dst, kind="calls", line=line, lines=[line], resolution=resolution,
               heuristic=resolution == "heuristic")


_RANK = {"exact": 0, "dispatch": 1, "heuristic": 2, "unresolved": 3}


def call_graph(resolver: Resolver, roots: list[Entity], depth: int = 1,
               direction: str = "callees", include_heuristic: bool = True) -> nx.DiGraph:
    """Breadth-first call edges from roots, `depth` hops in one direction ('callees'/'callers'/
    'both'). A symbol's declaration and definition are one node; each edge appears once."""
    ix = resolver.ix
    g = nx.DiGraph()
    queue = deque((e, 0) for e in roots)
    seen: set[str] = set()
    for e in roots:
        _node(g, e, ix.path(e.primary))
    while queue:
        entity, level = queue.popleft()
        if entity.key in seen or level >= depth:
            continue
        seen.add(entity.key)
        if direction in ("callees", "both"):
            for edge in resolver.callees(entity):
                if edge.heuristic and not include_heuristic or edge.kind != "project":
                    continue
                targets = [(t, edge.resolution) for t in resolver.target_entities(edge)]
                for override, _declared in edge.overrides:
                    targets += [(t, "dispatch") for t in resolver.target_entities(
                        Edge(edge.caller, edge.line, edge.name, [override], False))]
                for target, resolution in targets:
                    dst = _node(g, target, ix.path(target.primary))
                    _edge(g, entity.key, dst, edge.line, resolution)
                    if target.key not in seen:
                        queue.append((target, level + 1))
        if direction in ("callers", "both"):
            for edge in resolver.callers(entity):
                if edge.heuristic and not include_heuristic:
                    continue
                for source in ix.find(edge.caller["qname"]):
                    if edge.caller["id"] in {r["id"] for r in source.rows}:
                        src = _node(g, source, ix.path(source.primary))
                        _edge(g, src, entity.key, edge.line, edge.resolution)
                        if source.key not in seen:
                            queue.append((source, level + 1))
    return g


def add_inheritance(resolver: Resolver, g: nx.DiGraph, entity: Entity) -> None:
    """Edges derived -> base for a class and its resolved bases."""
    chain = resolver.chain(entity.qname)
    for base in chain[1:]:
        g.add_node(base, qname=base, kind="class")
        g.add_edge(entity.key, base, kind="inherits", heuristic=False, resolution="exact")


def _label(g: nx.DiGraph, node: str) -> str:
    return g.nodes[node].get("qname", node)


def to_mermaid(g: nx.DiGraph) -> str:
    """`flowchart LR` text; heuristic edges dotted, dispatch edges labelled."""
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    lines = ["flowchart LR"]
    for n in g.nodes:
        lines.append(f'    {ids[n]}["{_label(g, n).replace(chr(34), "#quot;")}"]')
    for u, v, data in g.edges(data=True):
        arrow = "-.->" if data.get("heuristic") else (
            "-- dispatch -->" if data.get("resolution") == "dispatch" else "-->")
        lines.append(f"    {ids[u]} {arrow} {ids[v]}")
    return "\n".join(lines) + "\n"


def to_dot(g: nx.DiGraph) -> str:
    """Graphviz text; heuristic edges dashed."""
    esc = lambda s: s.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
    lines = ["digraph codewalk {", "  rankdir=LR;", "  node [shape=box];"]
    for n in g.nodes:
        lines.append(f'  "{esc(n)}" [label="{esc(_label(g, n))}"];')
    for u, v, data in g.edges(data=True):
        style = ' [style=dashed]' if data.get("heuristic") else (
            ' [label="dispatch"]' if data.get("resolution") == "dispatch" else "")
        lines.append(f'  "{esc(u)}" -> "{esc(v)}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(g: nx.DiGraph) -> dict:
    """Node-link style dict (stable, JSON-serialisable)."""
    return {
        "nodes": [{"id": n, **g.nodes[n]} for n in g.nodes],
        "edges": [{"source": u, "target": v, **d} for u, v, d in g.edges(data=True)],
    }


def export(g: nx.DiGraph, fmt: str) -> str:
    """Render in one of mermaid, dot, json."""
    if fmt == "mermaid":
        return to_mermaid(g)
    if fmt == "dot":
        return to_dot(g)
    return json.dumps(to_json(g), indent=2)
