"""Rendering of `codewalk check` and `codewalk history` (rich; plain columns in a pipe)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from codewalk.views.term import console as make_console
from codewalk.views.term import escape, table

_STYLE = {"ok": "green", "drifted": "yellow", "missing": "red", "skipped": "dim"}


def render(errors: list[str], notices: list[str], statuses: list[Any], console: Console | None = None) -> None:
    """Schema errors, notices, one row per note that is not ok, and the counts."""
    console = console or make_console()
    for e in errors:
        console.print(f"[red]error[/] {escape(e)}", highlight=False)
    for n in notices:
        console.print(f"[dim]{escape(n)}[/]", highlight=False)
    rows = []
    for s in statuses:
        if s.status in ("ok", "skipped"):  # skipped sources are named once in the notices
            continue
        detail = s.detail + (f"; stale since {s.stale_since}" if s.stale_since else "")
        if s.suggestions:
            detail += "; did you mean: " + ", ".join(s.suggestions)
        rows.append([f"[{_STYLE[s.status]}]{s.status}[/]", escape(s.id), escape(s.symbol), escape(detail)])
    if rows:
        table(console, ["status", "note", "symbol", "detail"], rows, box=None, show_edge=False)
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.status] = counts.get(s.status, 0) + 1
    parts = [f"[{_STYLE[k]}]{counts[k]} {k}[/]" for k in ("ok", "drifted", "missing", "skipped") if counts.get(k)]
    console.print(f"{len(statuses)} notes: " + ", ".join(parts) + (f", {len(errors)} schema error(s)" if errors else ""))


def render_history(qname: str, path: str, changes: list[Any], console: Console | None = None) -> None:
    """One row per commit that changed the symbol (subjects printed literally, brackets included)."""
    console = console or make_console()
    if not changes:
        console.print(f"no commit changed {escape(qname)} in {escape(path)}")
        return
    rows = [[escape(c.commit), escape(c.date), escape(c.author),
             f"+{c.added} -{c.removed}" + ("" if c.what == "changed" else f" ({escape(c.what)})"), escape(c.subject)]
            for c in changes]
    table(console, ["commit", "date", "author", "+/-", "subject"], rows, title=f"{qname}  ({path})")
