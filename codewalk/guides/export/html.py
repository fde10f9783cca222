"""A guide as one self-contained HTML file: inline CSS, Pygments-highlighted code, inline SVG
diagrams, a table of contents. Nothing is fetched when the file is opened; every piece of text
from a note, a guide or a source file is HTML-escaped."""

from __future__ import annotations

import re
from html import escape

from codewalk.guides import diagrams
from codewalk.guides.export import svg
from codewalk.guides.resolve import ResolvedGuide, ResolvedStep

CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d2330; line-height: 1.5; }
nav { background: #f5f7fb; border: 1px solid #dde3ee; padding: .5rem 1rem; border-radius: 6px; }
section { border-top: 1px solid #dde3ee; margin-top: 2rem; padding-top: .5rem; }
.note { background: #fbf7ec; border-left: 4px solid #d9a404; padding: .5rem 1rem; margin: 1rem 0; }
.where { font-family: monospace; font-size: .9rem; color: #4a5568; }
.fallback { color: #9a6700; }
.missing { color: #a00; font-style: italic; }
.demo { font-family: monospace; background: #1d2330; color: #e2e8f0; padding: .4rem .8rem; border-radius: 4px; }
.hl { overflow-x: auto; border-radius: 6px; padding: .5rem; font-size: .85rem; }
svg.diagram { max-width: 100%; height: auto; display: block; margin: 1rem 0; }
code { background: #eef1f6; padding: 0 .2rem; border-radius: 3px; }
"""


def render(rg: ResolvedGuide, lang: str = "en") -> str:
    from pygments.formatters import HtmlFormatter

    formatter = HtmlFormatter(cssclass="hl", style="default")
    g = rg.guide
    toc = "".join(f'<li><a href="#step-{i}">{escape(s.step.title.get(lang))}</a></li>'
                  for i, s in enumerate(rg.steps, 1))
    body = "".join(_section(i, s, lang, formatter) for i, s in enumerate(rg.steps, 1))
    return (f'<!DOCTYPE html>\n<html lang="{"zh" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f"<title>{escape(g.title.get(lang))}</title>"
            f"<style>{CSS}{formatter.get_style_defs('.hl')}</style></head><body>"
            f"<h1>{escape(g.title.get(lang))}</h1><p>{_text(g.summary.get(lang))}</p>{_requires(g, lang)}"
            f"<nav><strong>Contents</strong><ol>{toc}</ol></nav>{body}</body></html>\n")


def _requires(g: object, lang: str) -> str:
    """The guides to read first, as a line under the summary (empty when there are none)."""
    if not g.requires:
        return ""
    label = "先读：" if lang == "zh" else "Read first: "
    return f'<p class="where">{escape(label)}{escape(", ".join(g.requires))}</p>'


def _text(text: str) -> str:
    """Escaped paragraphs; `code` spans become <code> (after escaping, so nothing is injected)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    out = []
    for p in paragraphs:
        html = escape(p)
        html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
        out.append(f"<p>{html}</p>")
    return "".join(out)


def _section(i: int, rs: ResolvedStep, lang: str, formatter: object) -> str:
    parts = [f'<section id="step-{i}"><h2>{i}. {escape(rs.step.title.get(lang))}</h2>', _text(rs.step.prose.get(lang))]
    if rs.note is not None:
        parts.append(f'<div class="note"><strong>{escape(rs.note.heading(lang))}</strong> '
                     f'<span class="where">{escape(rs.note.id)}</span>{_text(rs.note.text(lang))}</div>')
    loc = rs.located
    if loc is not None:
        parts.append(f'<p class="where">{escape(loc.qname)} — {escape(loc.path)}:{loc.line}</p>')
        if loc.fallback:
            parts.append('<p class="fallback">Shown from codewalk\'s core, which mirrors KsanaLLM\'s names: '
                         'no KsanaLLM checkout was given.</p>')
        parts.append(_highlight(loc.code, loc.language, formatter))
    elif rs.missing:
        parts.append(f'<p class="missing">{escape(rs.step.symbol)}: {escape(rs.missing)}</p>')
    diagram = diagrams.for_step(rs.step.diagram, loc) if rs.step.diagram else None
    if diagram is not None:
        parts.append(svg.render(diagram))
    if rs.step.demo:
        parts.append(f'<p class="demo">$ {escape(rs.step.demo)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _highlight(code: str, language: str, formatter: object) -> str:
    from pygments import highlight
    from pygments.lexers import CppLexer, PythonLexer

    return highlight(code, PythonLexer() if language == "python" else CppLexer(), formatter)
