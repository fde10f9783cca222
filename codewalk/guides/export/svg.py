"""A small, dependency-free SVG drawing of a `Diagram`: layered left to right, boxes and arrows.

Layers are breadth-first distances from the nodes nothing points to, so cycles (a request going
running -> swapped -> running) still get a stable layout; back edges are drawn as arcs below.
"""

from __future__ import annotations

from html import escape

from codewalk.guides.diagrams import Diagram

BOX_H, GAP_X, GAP_Y, CHAR_W, PAD = 28, 56, 18, 7.2, 10


def layers(d: Diagram) -> dict[str, int]:
    """Node id -> layer index."""
    incoming = {dst for _, dst, _ in d.edges}
    frontier = [n for n in d.nodes if n not in incoming] or list(d.nodes)[:1]
    layer = {n: 0 for n in frontier}
    succ: dict[str, list[str]] = {}
    for src, dst, _ in d.edges:
        succ.setdefault(src, []).append(dst)
    while frontier:
        nxt = []
        for n in frontier:
            for m in succ.get(n, []):
                if m not in layer:
                    layer[m] = layer[n] + 1
                    nxt.append(m)
        frontier = nxt
    for n in d.nodes:  # unreachable pieces go to the first column
        layer.setdefault(n, 0)
    return layer


def render(d: Diagram) -> str:
    """The diagram as an inline <svg> element (text escaped)."""
    layer = layers(d)
    columns: dict[int, list[str]] = {}
    for n in d.nodes:
        columns.setdefault(layer[n], []).append(n)
    widths = {c: max(len(d.nodes[n]) for n in ns) * CHAR_W + 2 * PAD for c, ns in columns.items()}
    x_of, x = {}, PAD
    for c in sorted(columns):
        x_of[c] = x
        x += widths[c] + GAP_X
    pos = {}
    for c, ns in columns.items():
        for i, n in enumerate(ns):
            pos[n] = (x_of[c], PAD + 24 + i * (BOX_H + GAP_Y), widths[c])
    height = PAD + 24 + max(len(ns) for ns in columns.values()) * (BOX_H + GAP_Y) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{x:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {x:.0f} {height:.0f}" role="img" aria-label="{escape(d.title)}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
             f'<text x="{PAD}" y="16" font-size="13" font-weight="bold">{escape(d.title)}</text>']
    parts += [_edge(pos, layer, e, height) for e in d.edges]
    for n, label in d.nodes.items():
        bx, by, bw = pos[n]
        parts.append(f'<rect x="{bx:.0f}" y="{by:.0f}" width="{bw:.0f}" height="{BOX_H}" rx="5" '
                     f'fill="#eef3fb" stroke="#4a6fa5"/>')
        parts.append(f'<text x="{bx + PAD:.0f}" y="{by + 18:.0f}" font-family="monospace" font-size="12">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _edge(pos: dict, layer: dict, edge: tuple[str, str, str], height: float) -> str:
    src, dst, label = edge
    sx, sy, sw = pos[src]
    dx, dy, dw = pos[dst]
    if layer[dst] > layer[src]:
        x1, y1, x2, y2 = sx + sw, sy + BOX_H / 2, dx, dy + BOX_H / 2
        path = f"M {x1:.0f} {y1:.0f} L {x2:.0f} {y2:.0f}"
        lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 - 4
    else:  # back or same-layer edge: an arc under the boxes
        x1, y1, x2, y2 = sx + sw / 2, sy + BOX_H, dx + dw / 2, dy + BOX_H
        low = max(y1, y2) + 24
        path = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {low:.0f}, {x2:.0f} {low:.0f}, {x2:.0f} {y2:.0f}"
        lx, ly = (x1 + x2) / 2, low - 2
    text = f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="11" fill="#333">{escape(label)}</text>' if label else ""
    return f'<path d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>{text}'
