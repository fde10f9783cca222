"""The pages around the code: `index.html`, one file list per source, the guides and the
search index (a `<script>` file, so search works from file:// with no fetch)."""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import quote

from codewalk.site.assets import script_json
from codewalk.site.model import HIDDEN_KINDS, SourceData

SEARCH_INDEX = "assets/search-index.js"
DEMOS = (("play/schedule.html", "Scheduler player", "调度器回放",
          "step the core's continuous-batching scheduler: queues, blocks, prefix hits, swaps, and the "
          "functions responsible; a prefix-cache player beside it shows the block tree"),)


def _head(title: str, base: str, lang: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f'<link rel="stylesheet" href="{base}assets/site.css"></head><body>')


def index_page(sources: list[SourceData], guides: list[tuple[str, str, str]], lang: str,
               players: bool) -> str:
    """DIR/index.html: search, the sources, the guides in reading order, the demos."""
    zh = lang == "zh"
    src_items = "".join(
        f'<li><a href="{quote(s.name)}/index.html">{escape(s.name)}</a> — {escape(s.title)} '
        f'<span class="dim">({len(s.files)} files, {sum(1 for x in s.syms if x.kind not in HIDDEN_KINDS)} symbols, '
        f'{sum(len(x.notes) for x in s.syms)} notes)</span></li>' for s in sources)
    guide_items = "".join(f'<li><a href="guides/{quote(gid)}.html">{escape(title)}</a> '
                          f'<span class="dim">{escape(summary)}</span></li>' for gid, title, summary in guides)
    demo_items = "".join(f'<li><a href="{href}">{escape(t_zh if zh else t)}</a> <span class="dim">{escape(what)}'
                         f'{"" if players else " (not built in this site)"}</span></li>'
                         for href, t, t_zh, what in DEMOS)
    return (_head("codewalk", "", lang)
            + '<header class="top"><strong>codewalk</strong> — KsanaLLM and vLLM, cross-referenced and annotated'
              "</header><main>"
            + f'<h1>{"搜索符号" if zh else "Find a symbol"}</h1>'
            + '<label for="search" class="dim">name, Class::method or module.function — '
              "definitions ranked as <code>codewalk show</code> ranks them</label><br>"
            + '<input type="search" id="search" autocomplete="off" placeholder="ProcessWaitingQueue">'
            + '<ul id="results" aria-live="polite"></ul>'
            + f'<h2>{"源码" if zh else "Sources"}</h2><ul>{src_items}</ul>'
            + f'<h2>{"阅读指南（按阅读顺序）" if zh else "Guides, in reading order"}</h2><ol>{guide_items}</ol>'
            + f'<h2>{"演示" if zh else "Demos"}</h2><ul>{demo_items}</ul>'
            + f'</main><script src="{SEARCH_INDEX}"></script><script src="assets/site.js"></script></body></html>\n')


def source_page(src: SourceData, lang: str) -> str:
    """DIR/<source>/index.html: every file with a code page, grouped by folder."""
    folders: dict[str, list[str]] = {}
    for path in sorted(src.files):
        folders.setdefault(path.rpartition("/")[0], []).append(path)
    body = []
    for folder, paths in sorted(folders.items()):
        items = "".join(f'<li><a href="{quote(p)}.html">{escape(p.rpartition("/")[2])}</a></li>' for p in paths)
        body.append(f"<h2>{escape(folder or '/')}</h2><ul class=\"files\">{items}</ul>")
    return (_head(f"{src.name} — codewalk", "../", lang)
            + f'<header class="top"><a href="../index.html">codewalk</a> / {escape(src.name)}</header><main>'
            + f"<h1>{escape(src.name)} <span class=\"dim\">{escape(src.title)} — {escape(src.root)}</span></h1>"
            + "".join(body) + "</main></body></html>\n")


def search_index(sources: list[SourceData]) -> str:
    """`window.CW_SEARCH`: [name, qname, kind, source, href, rank] per symbol, rank as `show`'s."""
    items: list[list[Any]] = []
    for si, src in enumerate(sources):
        for s in src.syms:
            if s.kind not in HIDDEN_KINDS and src.files.get(s.path) is not None:
                items.append([s.name, s.qname, s.kind, si, quote(src.href(s), safe="/#"), s.rank])
    doc = {"sources": [s.name for s in sources], "items": items}
    return f"window.CW_SEARCH={script_json(doc)};\n"


_WHERE = re.compile(r'<p class="where">(.*?) — (.*?):(\d+)</p>')


def guide_page(html: str, resolved: Any, built: dict[str, SourceData]) -> str:
    """Today's HTML export of a guide, each step's excerpt line linked to its code page."""
    located = [rs.located for rs in resolved.steps if rs.located is not None]
    by_where = {}
    for loc in located:
        src = built.get(loc.source) or next((s for s in built.values() if s.notes_source == loc.source
                                             and s.root == str(loc.root)), None)
        if src is not None and loc.path in src.files:
            by_where[(escape(loc.path), str(loc.line))] = f"../{quote(src.name)}/{quote(loc.path)}.html#L{loc.line}"

    def link(m: re.Match) -> str:
        url = by_where.get((m.group(2), m.group(3)))
        if url is None:
            return m.group(0)
        return f'<p class="where"><a href="{url}">{m.group(1)} — {m.group(2)}:{m.group(3)}</a></p>'

    nav = '<p class="sitenav"><a href="../index.html">codewalk</a></p>'
    html = _WHERE.sub(link, html)
    return html.replace("<body>", f"<body>{nav}", 1)
