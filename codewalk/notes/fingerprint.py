"""Fingerprints of symbol definitions: insensitive to whitespace, comments and the symbol's own name.

The text is tokenised after tree-sitter has removed its comments; the symbol's name and the
qualifiers written in front of it (`A::B::`) become a placeholder, so a note still recognises its
code after a rename or a move to another class — which is how `codewalk check` suggests where a
missing symbol went.
"""

from __future__ import annotations

import hashlib
import re

_TOKEN = re.compile(r"::|->|\w+|[^\w\s]")
_PLACEHOLDER = "\u00a7"


def comment_spans(text: bytes, language: str) -> list[tuple[int, int]]:
    """Byte spans of every comment node (tree-sitter, so `//` inside a string is not one)."""
    from codewalk.index.parse import parse

    spans: list[tuple[int, int]] = []
    stack = [parse(language, text).root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            spans.append((node.start_byte, node.end_byte))
        elif node.child_count:
            stack.extend(node.children)
    return sorted(spans)


def without_comments(text: bytes, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> bytes:
    """text[start:end] with the comment spans inside it blanked out."""
    end = len(text) if end is None else end
    out, last = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        out += [text[last:max(s, start)], b" "]
        last = min(e, end)
    out.append(text[last:end])
    return b"".join(out)


def normalize_clean(clean: bytes, name: str = "") -> str:
    """Tokens of comment-free text joined by single spaces, the own name replaced."""
    tokens = _TOKEN.findall(clean.decode("utf-8", "replace"))
    if name:
        tokens = [_PLACEHOLDER if t == name else t for t in tokens]
    joined = " ".join(tokens)
    if name:  # `void Outer::Inner::§(` and `void §(` should agree
        joined = re.sub(r"(?:\w+ :: )+" + _PLACEHOLDER, _PLACEHOLDER, joined)
    return joined


def normalize(text: bytes, language: str, name: str = "") -> str:
    """Normalised text of a whole snippet (parsed on its own to find its comments)."""
    return normalize_clean(without_comments(text, comment_spans(text, language)), name)


def digest(normalized: list[str]) -> str:
    """16 hex digits of SHA-256 over one or more normalised texts (overloads: sorted, joined)."""
    return hashlib.sha256("\n".join(sorted(normalized)).encode("utf-8")).hexdigest()[:16]


def fingerprint(text: bytes, language: str, name: str = "") -> str:
    """Fingerprint of one snippet."""
    return digest([normalize(text, language, name)])
