"""A symbol panel: what `show` gives for one symbol, with links, and a small call-graph SVG."""

from __future__ import annotations

from html import escape
from typing import Callable

from codewalk.site.model import Ref, SourceData, Sym

MAX_ROWS = 20  # per list; the rest is counted (a macro can have thousands of callers)
GRAPH_SIDE = 6  # callers / callees drawn in the graph


def panel(src: SourceData, sym: Sym, href: Callable[[str, int], str], lang: str) -> str:
    """`<section class="sym">` for sym; href(path, line) makes a URL relative to the page."""
    zh = lang == "zh"
    parts = [f'<section class="sym" id="{sym.anchor}" aria-label="{escape(sym.qname)}">',
             f'<h3>{escape(sym.kind)} <a href="{href(sym.path, sym.line)}">{escape(sym.qname)}</a> '
             f'<span class="dim">({escape(sym.language)})</span></h3>']
    if sym.signature:
        parts.append(f'<div class="sig">{escape(sym.signature)}</div>')
    rows = [("declared", [_where(href, p, ln) for p, ln in sym.decls]),
            ("defined", [_where(href, p, ln, end) for p, ln, end in sym.defs]),
            ("bases", [_sym_link(src, href, src.syms[i]) for i in sym.bases]
             + [escape(b) for b in sym.base_names]),
            ("derived", [_sym_link(src, href, src.syms[i]) for i in sym.derived])]
    parts.append("<ul>" + "".join(f"<li>{label}: {', '.join(items)}</li>" for label, items in rows if items)
                 + "</ul>")
    if sym.notes:
        parts.append("<p>" + ("笔记" if zh else "notes") + ": " + ", ".join(
            f'<a href="{href(sym.path, sym.line)}">{escape(n["title_zh"] if zh else n["title"])}</a>'
            for n in sym.notes) + "</p>")
    parts.append(_refs(src, href, "callers", sym.callers, True, sym.path))
    parts.append(_refs(src, href, "callees", sym.callees, False, sym.path))
    if sym.history:
        items = "".join(f"<li><code>{escape(c['commit'])}</code> {escape(c['date'])} {escape(c['subject'])} "
                        f"<span class=\"dim\">(+{c['added']} −{c['removed']})</span></li>"
                        for c in sym.history)
        parts.append(f"<p>history</p><ul>{items}</ul>")
    if sym.callers or sym.callees:
        parts.append(graph_svg(src, sym, href))
    parts.append("</section>")
    return "".join(parts)


def _where(href: Callable[[str, int], str], path: str, line: int, end: int = 0) -> str:
    label = f"{path}:{line}" + (f"-{end}" if end else "")
    return f'<a href="{href(path, line)}">{escape(label)}</a>'


def _sym_link(src: SourceData, href: Callable[[str, int], str], s: Sym) -> str:
    return f'<a href="{href(s.path, s.line)}">{escape(s.qname)}</a>'


def _refs(src: SourceData, href: Callable[[str, int], str], title: str, refs: list[Ref], site_first: bool,
          sym_path: str) -> str:
    """Callers link to their call site; callees to the target's definition, then the call line."""
    if not refs:
        return ""
    items = []
    for r in refs[:MAX_ROWS]:
        other = src.syms[r.sym]
        via = f' <span class="dim">(via {escape(r.via)})</span>' if r.via else ""
        where = f"L{r.line}" if r.path == sym_path else f"{r.path}:{r.line}"  # same file: the line is enough
        site = f'<a class="dim" href="{href(r.path, r.line)}">{escape(where)}</a>'
        if site_first:
            items.append(f'<li><a href="{href(r.path, r.line)}">{escape(other.qname)}</a> {site}{via}</li>')
        else:
            items.append(f"<li>{_sym_link(src, href, other)} {site}{via}</li>")
    more = f'<li class="dim">+ {len(refs) - MAX_ROWS} more</li>' if len(refs) > MAX_ROWS else ""
    return f"<p>{title} ({len(refs)})</p><ul>{''.join(items)}{more}</ul>"


def graph_svg(src: SourceData, sym: Sym, href: Callable[[str, int], str]) -> str:
    """Callers on the left, the symbol in the middle, callees on the right; each box a link."""
    left = list(dict.fromkeys(r.sym for r in sym.callers if r.sym != sym.idx))[:GRAPH_SIDE]
    right = list(dict.fromkeys(r.sym for r in sym.callees if r.sym != sym.idx))[:GRAPH_SIDE]
    label = lambda s: s.qname if len(s.qname) <= 34 else "…" + s.qname[-33:]  # noqa: E731
    cw = lambda ids: max([len(label(src.syms[i])) for i in ids] or [0]) * 6.6 + 16  # noqa: E731
    wl, wc, wr = cw(left), len(label(sym)) * 6.6 + 16, cw(right)
    gap, box, step = 40, 22, 28
    rows = max(len(left), len(right), 1)
    height = rows * step + 10
    xc = (wl + gap) if left else 4
    xr = xc + wc + gap
    width = xr + (wr if right else 0) + 4
    cy = height / 2 - box / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="callgraph" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="call graph of {escape(sym.qname)}">']

    def node(s: Sym, x: float, y: float, w: float, center: bool = False) -> str:
        fill = "#fff3b0" if center else "#eef3fb"
        return (f'<a href="{escape(href(s.path, s.line))}"><rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" '
                f'height="{box}" rx="4" fill="{fill}" stroke="#4a6fa5"/><text x="{x + 6:.0f}" y="{y + 15:.0f}" '
                f'font-family="monospace" font-size="11">{escape(label(s))}</text>'
                f"<title>{escape(s.qname)}</title></a>")

    for i, idx in enumerate(left):
        y = i * step + 5 + (rows - len(left)) * step / 2
        out.append(f'<line x1="{4 + wl:.0f}" y1="{y + box / 2:.0f}" x2="{xc:.0f}" y2="{cy + box / 2:.0f}" '
                   f'stroke="#777"/>')
        out.append(node(src.syms[idx], 4, y, wl))
    for i, idx in enumerate(right):
        y = i * step + 5 + (rows - len(right)) * step / 2
        out.append(f'<line x1="{xc + wc:.0f}" y1="{cy + box / 2:.0f}" x2="{xr:.0f}" y2="{y + box / 2:.0f}" '
                   f'stroke="#777"/>')
        out.append(node(src.syms[idx], xr, y, wr))
    out.append(node(sym, xc, cy, wc, center=True))
    out.append("</svg>")
    return "".join(out)
