"""`codewalk guide`: list guides, or walk one in the terminal (rich panels, next/prev)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.tree import Tree

from codewalk.guides import diagrams
from codewalk.guides.schema import Guides
from codewalk.guides.resolve import ResolvedGuide, ResolvedStep
from codewalk.views.term import console as _term_console  # pipe-safe; one helper for every view


def list_guides(guides: Guides, lang: str, console: Console | None = None) -> None:
    """The guides in reading order, each with what it assumes you have read."""
    from codewalk.views.term import table

    console = console or _term_console()
    title = "按阅读顺序排列的指南" if lang == "zh" else "guides in reading order"
    rows = [[str(i), escape(g.id), str(len(g.steps)), escape(g.title.get(lang)),
             escape(", ".join(g.requires) or "-")] for i, g in enumerate(guides.ordered(), 1)]
    table(console, ["#", "id", "steps", "title", "assumes" if lang != "zh" else "先读"], rows,
          title=title, box=None, title_justify="left")


def step_panel(rg: ResolvedGuide, index: int, lang: str, diagram: diagrams.Diagram | None = None) -> Panel:
    """One step as a rich panel: prose, note, where, code, its diagram (`diagrams.for_steps`), demo."""
    rs = rg.steps[index]
    parts: list[Any] = []
    if rs.step.prose.get(lang):
        parts.append(escape(rs.step.prose.get(lang)))
    if rs.note is not None:
        parts.append(Panel(escape(rs.note.text(lang)), title=f"[magenta]{escape(rs.note.heading(lang))}[/]",
                           title_align="left", border_style="magenta"))
    parts += _code(rs)
    if diagram is not None:
        parts.append(_tree(diagram))
    if rs.step.demo:
        parts.append(f"[dim]try:[/] [bold]{escape(rs.step.demo)}[/]")
    title = f"{rg.guide.title.get(lang)} — {index + 1}/{len(rg.steps)}: {rs.step.title.get(lang)}"
    return Panel(Group(*parts), title=escape(title), title_align="left")


def _code(rs: ResolvedStep) -> list[Any]:
    loc = rs.located
    if loc is None:
        return [f"[red]{escape(rs.step.symbol)}: {escape(rs.missing)}[/]"] if rs.missing else []
    where = f"[cyan]{escape(loc.qname)}[/]  [dim]{escape(loc.path)}:{loc.line}[/]"
    if loc.fallback:
        where += "  [yellow](codewalk core's counterpart: no KsanaLLM checkout)[/]"
    lexer = "python" if loc.language == "python" else "cpp"
    return [where, Syntax(loc.code, lexer, line_numbers=True, start_line=loc.line)]


def _tree(d: diagrams.Diagram) -> Tree:
    """A diagram in the terminal: each node with its outgoing edges."""
    tree = Tree(f"[bold]{escape(d.title)}[/]")
    for node_id, label in d.nodes.items():
        outs = [(dst, lab) for src, dst, lab in d.edges if src == node_id]
        if outs:
            branch = tree.add(escape(label))
            for dst, lab in outs:
                branch.add(escape(f"→ {d.nodes[dst]}" + (f"  ({lab})" if lab else "")))
    return tree


def walk(rg: ResolvedGuide, lang: str, interactive: bool, console: Console | None = None,
         figures: list[diagrams.Diagram | None] | None = None) -> None:
    """Print every step, or page through them with n/p/q when interactive; `figures` holds each
    step's diagram (`diagrams.for_steps`), None to draw none."""
    figures = figures or [None] * len(rg.steps)
    console = console or _term_console()
    summary = rg.guide.summary.get(lang)
    if rg.guide.requires:
        summary += ("\n\n先读：" if lang == "zh" else "\n\nRead first: ") + ", ".join(rg.guide.requires)
    console.print(Panel(escape(summary), title=escape(rg.guide.title.get(lang))))
    if not interactive:
        for i in range(len(rg.steps)):
            console.print(step_panel(rg, i, lang, figures[i]))
        return
    i = 0
    while 0 <= i < len(rg.steps):
        console.print(step_panel(rg, i, lang, figures[i]))
        answer = console.input("[dim][n]ext  [p]rev  [q]uit >[/] ").strip().lower()
        if answer.startswith("q"):
            return
        i = max(0, i - 1) if answer.startswith("p") else i + 1
