"""The rich Console every view prints through, and the few renderables that differ in a pipe.

On a terminal: rich as usual (colour, wrapping to the window). Not a terminal (`| grep`, `> f`):
no colour, no wrapping or cropping of printed lines, no trailing padding, and tables, rules and
source listings printed as plain text with every value whole, so `codewalk check | grep NAME`
finds whole names. Text from users, engines, git and notes goes into markup only through
`escape` (or as `Text`), never interpolated raw.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

__all__ = ["console", "escape", "rule", "source_lines", "table", "plain"]


class _Stripped:
    """A file that drops the spaces rich pads lines with (tables, panels) before each newline."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._pending = ""
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, data: str) -> int:
        text = self._pending + data
        head, sep, self._pending = text.rpartition("\n")
        if sep:
            self._stream.write("\n".join(line.rstrip() for line in head.split("\n")) + "\n")
        return len(data)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()


_MAX_PIPE_WIDTH = 1000  # a table wider than this in a pipe wraps after all


class _Console(Console):
    """rich's Console, except that a closed pipe raises BrokenPipeError for the CLI's boundary
    (which exits 0, as `| head` expects) instead of rich's own exit with status 1."""

    pipe = False  # set on consoles writing to a pipe or a file

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError

    def print(self, *objects: Any, **kwargs: Any) -> None:  # noqa: A003 - rich's name
        """In a pipe, render tables and panels at their natural width: nothing wrapped or cut."""
        wanted = 0
        if self.pipe and kwargs.get("width") is None:
            wanted = max((self._natural_width(o) for o in objects if not isinstance(o, (str, Text))), default=0)
        if wanted <= self.width:
            super().print(*objects, **kwargs)
            return
        narrow = self._width  # print(width=) can only narrow the console, so widen it for this call
        self.width = min(wanted, _MAX_PIPE_WIDTH)
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = narrow

    def _natural_width(self, renderable: Any) -> int:
        from rich.measure import Measurement

        try:
            return Measurement.get(self, self.options.update(max_width=_MAX_PIPE_WIDTH), renderable).maximum
        except Exception:  # noqa: BLE001 - not measurable: rich's default width
            return 0


def console(stderr: bool = False) -> Console:
    """A Console on stdout (or stderr) that follows the rules above for pipes."""
    stream = sys.stderr if stderr else sys.stdout
    probe = _Console(file=stream, highlight=False)
    if probe.is_terminal:
        return probe
    c = _Console(file=_Stripped(stream), highlight=False, soft_wrap=True, no_color=True,
                 color_system=None, emoji=False)
    c.pipe = True
    return c


def is_pipe(c: Console) -> bool:
    return not c.is_terminal


def plain(cell: Any) -> str:
    """A table cell as plain text: Text as is, str as markup (escaped by whoever built it)."""
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(str(cell)).plain


def table(c: Console, headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "",
          **options: Any) -> None:
    """A table: rich's on a terminal; aligned columns of whole values in a pipe.

    Cells are markup strings (escape what came from outside) or Text objects.
    """
    if not is_pipe(c):
        from rich.table import Table

        t = Table(*headers, title=escape(title) if title else None, **options)
        for row in rows:
            t.add_row(*row)
        c.print(t)
        return
    cells = [[plain(x) for x in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [title] if title else []
    for row in [list(headers)] + cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    _raw(c).write("\n".join(lines) + "\n")


def rule(c: Console, title: str = "", style: str = "") -> None:
    """A horizontal rule; in a pipe, one short plain line that never cuts the title."""
    if not is_pipe(c):
        c.rule(title, style=style or "rule.line")
        return
    _raw(c).write(f"── {plain(title)} ──\n" if title else "──\n")


def source_lines(c: Console, code: str, lexer: str, start: int) -> None:
    """Numbered source lines: highlighted on a terminal, exactly as in the file in a pipe."""
    if not is_pipe(c):
        from rich.syntax import Syntax

        c.print(Syntax(code, lexer, line_numbers=True, start_line=start, word_wrap=False))
        return
    lines = code.split("\n")
    width = len(str(start + len(lines) - 1))
    _raw(c).write("".join(f"{n:>{width}}  {line}\n" for n, line in enumerate(lines, start)))


def _raw(c: Console) -> IO[str]:
    """The stream under a pipe console, after what rich has buffered (so order is kept)."""
    c.file.flush()
    return getattr(c.file, "_stream", c.file)
