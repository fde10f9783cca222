"""Rendering of `codewalk check` and `codewalk history` (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

_STYLE = {"ok": "green", "drifted": "yellow", "missing": "red", "skipped": "dim"}


def render(errors: list[str], notices: list[str], statuses: list[Any], console: Console | None = None) -> None:
    """Schema errors, notices, one row per note that is not ok, and the counts."""
    console = console or Console()
    for e in errors:
        console.print(f"[red]error[/] {e}", highlight=False)
    for n in notices:
        console.print(f"[dim]{n}[/]", highlight=False)
    table = Table("status", "note", "symbol", "detail", box=None, show_edge=False)
    for s in statuses:
        if s.status in ("ok", "skipped"):  # skipped sources are named once in the notices
            continue
        detail = s.detail + (f"; stale since {s.stale_since}" if s.stale_since else "")
        if s.suggestions:
            detail += "; did you mean: " + ", ".join(s.suggestions)
        table.add_row(f"[{_STYLE[s.status]}]{s.status}[/]", s.id, s.symbol, detail)
    if table.row_count:
        console.print(table)
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.status] = counts.get(s.status, 0) + 1
    parts = [f"[{_STYLE[k]}]{counts[k]} {k}[/]" for k in ("ok", "drifted", "missing", "skipped") if counts.get(k)]
    console.print(f"{len(statuses)} notes: " + ", ".join(parts) + (f", {len(errors)} schema error(s)" if errors else ""))


def render_history(qname: str, path: str, changes: list[Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table("commit", "date", "author", "+/-", "subject", title=f"{qname}  ({path})")
    for c in changes:
        table.add_row(c.commit, c.date, c.author, f"+{c.added} -{c.removed}" + ("" if c.what == "changed" else f" ({c.what})"),
                      c.subject)
    console.print(table if changes else f"no commit changed {qname} in {path}")
