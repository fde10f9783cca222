"""One code page: `DIR/<source>/<path>.html`, every line `id="L<n>"`, names linked, notes on
their definition lines, a panel per symbol defined in the file."""

from __future__ import annotations

import posixpath
from html import escape
from urllib.parse import quote

from codewalk.site.assets import script_json
from codewalk.site.highlight import highlight_lines
from codewalk.site.model import FileData, SourceData, Sym
from codewalk.site.panel import panel


def page_url(from_path: str, to_path: str, line: int) -> str:
    """`to_path`'s code page line, relative to the code page of `from_path` (same source); a line
    of the same file is `<file>.html#L<n>` too, so every code link has one shape."""
    rel = posixpath.relpath(to_path + ".html", posixpath.dirname(from_path) or ".")
    return f"{quote(rel)}#L{line}"


def up(path: str, extra: int = 1) -> str:
    """'../' back to DIR from the page of path inside its source folder."""
    return "../" * (path.count("/") + extra)


class CodePage:
    """Renders one file of one source; `xref` maps (notes source, qname) to a URL from DIR."""

    def __init__(self, src: SourceData, f: FileData, lang: str, xref: dict[tuple[str, str], str]) -> None:
        self.src, self.f, self.lang, self.xref = src, f, lang, xref
        self.table: list[list] = []
        self._slot: dict[int, int] = {}
        self.by_line: dict[int, dict[str, tuple[int, list[int]]]] = {}
        for link in f.links:
            self.by_line.setdefault(link.line, {}).setdefault(link.name, (link.target, link.overrides))

    def href(self, path: str, line: int) -> str:
        return page_url(self.f.path, path, line)

    def _tip(self, sym: Sym, overrides: list[int]) -> int:
        """Index of sym's row in the page's tooltip table (shared by every link to it)."""
        key = sym.idx if not overrides else -1
        if key >= 0 and key in self._slot:
            return self._slot[key]
        note = (sym.notes[0]["title_zh"] if self.lang == "zh" else sym.notes[0]["title"]) if sym.notes else ""
        others = [[self.src.syms[o].qname, self.href(self.src.syms[o].path, self.src.syms[o].line)]
                  for o in overrides]
        dispatch = any(self.src.syms[o].name == sym.name for o in overrides)
        self.table.append([self.href(sym.path, sym.line), sym.qname, sym.signature, note, others, dispatch])
        if key >= 0:
            self._slot[key] = len(self.table) - 1
        return len(self.table) - 1

    def _link(self, line: int, name: str) -> str | None:
        found = self.by_line.get(line, {}).get(name)
        if found is None:
            return None
        sym = self.src.syms[found[0]]
        if sym.path == self.f.path and sym.line == line:  # the symbol's own line: open its panel
            return f'<a class="d" href="#{sym.anchor}">' if sym.has_panel else None
        return f'<a class="x" href="{self.href(sym.path, sym.line)}" data-t="{self._tip(sym, found[1])}">'

    def _include(self, token: str) -> str | None:
        """`#include "x/y.h"`: the file beside this one, else the one file of the source ending so."""
        name = token.strip().strip('"<>')
        if not name or token.strip().startswith("<"):
            return None
        here = posixpath.normpath(posixpath.join(posixpath.dirname(self.f.path), name))
        if here in self.src.files:
            return f'<a class="i" href="{page_url(self.f.path, here, 1).split("#")[0]}">'
        found = _by_suffix(self.src).get(name.rsplit("/", 1)[-1], [])
        found = [p for p in found if p == name or p.endswith("/" + name)]
        if len(found) == 1:
            return f'<a class="i" href="{page_url(self.f.path, found[0], 1).split("#")[0]}">'
        return None

    def render(self, text: str) -> str:
        """The whole page as HTML."""
        notes_at = {s.line: s for s in (self.src.syms[i] for i in self.f.defined) if s.notes}
        lines = highlight_lines(text, self.f.path, self._link, self._include)
        body = []
        for n, html in enumerate(lines, 1):
            note = self._notes(notes_at[n]) if n in notes_at else ""
            body.append(f'<div id="L{n}">{html}{note}</div>')
        panels = [panel(self.src, s, self.href, self.lang) for s in
                  sorted((self.src.syms[i] for i in self.f.defined if self.src.syms[i].has_panel),
                         key=lambda s: (s.line, s.anchor))]
        base = up(self.f.path)
        title = f"{self.f.path} — {self.src.name}"
        return (f'<!DOCTYPE html>\n<html lang="{self.lang}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(title)}</title>"
                f'<link rel="stylesheet" href="{base}assets/site.css"></head><body>'
                f'<header class="top"><a href="{base}index.html">codewalk</a> / '
                f'<a href="{base}{quote(self.src.name)}/index.html">{escape(self.src.name)}</a> / '
                f"{escape(self.f.path)}</header><main><h1>{escape(self.f.path)}</h1>"
                f'<div class="code">{"".join(body)}</div>'
                + (f'<h2>Symbols</h2>{"".join(panels)}' if panels else "")
                + f"</main><script>window.CW_T={script_json(self.table)};</script>"
                f'<script src="{base}assets/site.js"></script></body></html>\n')

    def _notes(self, sym: Sym) -> str:
        """The notes of sym on its definition line: title, drift, text in both languages."""
        zh = self.lang == "zh"
        out = []
        for n in sym.notes:
            title, text = (n["title_zh"], n["text_zh"]) if zh else (n["title"], n["text"])
            other_title, other = (n["title"], n["text"]) if zh else (n["title_zh"], n["text_zh"])
            status = n.get("status", "ok")
            drift = (f'<span class="drift-{escape(status)}">{escape(status)}</span>'
                     + (f' <span class="dim">{escape(n.get("detail", ""))}</span>' if n.get("detail") else ""))
            pinned = f' <span class="dim">pinned {escape(n["pinned"])}</span>' if n.get("pinned") else ""
            parts = [f'<aside class="note" id="note-{escape(n["id"])}" data-note="{escape(n["id"])}">',
                     f'<span class="title">{escape(title)}</span> <span class="dim">{escape(n["id"])}</span> '
                     f"· {drift}{pinned}",
                     f'<details><summary>{"笔记" if zh else "note"}</summary>{_paragraphs(text)}</details>']
            if other and other != text:
                parts.append(f'<details lang="{"en" if zh else "zh"}"><summary>'
                             f'{"English" if zh else "中文"}: {escape(other_title)}</summary>'
                             f"{_paragraphs(other)}</details>")
            parts.append(self._counterparts(sym))
            parts.append("</aside>")
            out.append("".join(parts))
        return "".join(out)

    def _counterparts(self, sym: Sym) -> str:
        items = []
        for c in sym.counterparts:
            label = f"{c['source']}: {c['symbol']}"
            url = self.xref.get((c["source"], c["symbol"]))
            items.append(f'<a href="{up(self.f.path)}{url}">{escape(label)}</a>' if url
                         else f"<span>{escape(label)}</span>")
        return f'<div class="counterparts">counterparts: {", ".join(items)}</div>' if items else ""


_SUFFIX: dict[str, dict[str, list[str]]] = {}


def _by_suffix(src: SourceData) -> dict[str, list[str]]:
    """File name -> paths of the source (built once per process and source)."""
    table = _SUFFIX.get(src.name)
    if table is None:
        table = _SUFFIX[src.name] = {}
        for p in src.files:
            table.setdefault(p.rsplit("/", 1)[-1], []).append(p)
    return table


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n") if p.strip())
