"""Pygments tokens turned into one HTML string per source line, with names made into links.

Pygments' own HtmlFormatter lets a span run across lines; a code page needs every line to be
its own element (`id="L<n>"`), so tokens are split at newlines here and each line's spans are
closed on that line. A name token whose text is a link's name on that line becomes an `<a>`.
"""

from __future__ import annotations

from html import escape
from typing import Callable

from pygments.token import STANDARD_TYPES, Name, Token, _TokenType

_CLASS: dict[_TokenType, str] = {}
_KIND: dict[_TokenType, tuple[str, bool]] = {}  # token type -> (CSS class, is a linkable name)


STYLE = "default"


def css_class(ttype: _TokenType) -> str:
    """Pygments' short CSS class of a token type; '' when the style draws it as plain text
    (names and punctuation in the default style), which keeps pages a third smaller."""
    cls = _CLASS.get(ttype)
    if cls is None:
        from pygments.styles import get_style_by_name

        t = ttype
        while t not in STANDARD_TYPES and t.parent is not None:
            t = t.parent
        look = get_style_by_name(STYLE).style_for_token(ttype)
        plain = not (look["color"] or look["bgcolor"] or look["bold"] or look["italic"] or look["underline"]
                     or look["border"])
        cls = _CLASS[ttype] = "" if plain else STANDARD_TYPES.get(t, "")
    return cls


def lexer_for(path: str):
    """Python for .py/.pyi, C++ for the rest of what the index holds (C, C++, CUDA headers)."""
    from pygments.lexers import CppLexer, PythonLexer

    # stripnl off: leading blank lines must stay or every line number shifts.
    if path.endswith((".py", ".pyi")):
        return PythonLexer(stripnl=False, ensurenl=False)
    return CppLexer(stripnl=False, ensurenl=False)


def highlight_lines(text: str, path: str, link: Callable[[int, str], str | None],
                    include: Callable[[str], str | None] = lambda name: None) -> list[str]:
    """One HTML fragment per line of text; `link(line, name)` gives an opening `<a ...>` tag
    for a name token on that line, or None to leave the name as text; `include(text)` the same
    for the file named by a C/C++ `#include "..."`."""
    lines: list[str] = []
    current: list[str] = []
    lineno = 1
    run_cls, run = "", []  # adjacent tokens of one class share a span, as Pygments' formatter does

    def flush() -> None:
        if run:
            text_ = "".join(run)
            current.append(f'<span class="{run_cls}">{text_}</span>' if run_cls else text_)
            run.clear()

    for ttype, value in lexer_for(path).get_tokens(text):
        kind = _KIND.get(ttype)
        if kind is None:
            kind = _KIND[ttype] = ("" if ttype in Token.Text else css_class(ttype),
                                   ttype in Name and ttype is not Token.Name.Builtin.Pseudo)
        cls, is_name = kind
        if ttype is Token.Comment.PreprocFile:
            tag = include(value)
            if tag:
                flush()
                current.append(f'{tag}<span class="{cls}">{escape(value, quote=False)}</span></a>')
                continue
        if "\n" not in value and not is_name:  # the common case: one plain piece
            if cls != run_cls:
                flush()
                run_cls = cls
            run.append(escape(value, quote=False))
            continue
        pieces = value.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                flush()
                lines.append("".join(current))
                current = []
                lineno += 1
            if not piece:
                continue
            html = escape(piece, quote=False)
            if is_name:
                tag = link(lineno, piece)
                if tag:
                    flush()
                    current.append(f'{tag}<span class="{cls}">{html}</span></a>' if cls else f"{tag}{html}</a>")
                    continue
            if cls != run_cls:
                flush()
                run_cls = cls
            run.append(html)
    flush()
    if current or not text.endswith("\n"):
        lines.append("".join(current))
    return lines
