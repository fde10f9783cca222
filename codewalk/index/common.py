"""Helpers shared by the language extractors (node text, comments, enclosing ranges)."""

from __future__ import annotations

import bisect
import re

import tree_sitter as ts

_SPACE = re.compile(r"\s+")
_COMMENT_MARKS = re.compile(r"^\s*(///?|/\*+|\*+/?|#)\s?")
MAX_SIGNATURE = 400
MAX_COMMENT = 800


_source = [b""]  # the bytes being extracted (set by use_source); slicing beats Node.text 2x


def use_source(source: bytes) -> None:
    """Make text() slice this source; every extract() calls it before touching nodes."""
    _source[0] = source


def source() -> bytes:
    """The bytes set by use_source."""
    return _source[0]


def text(node: ts.Node | None) -> str:
    """Node source as str (sources were decoded with replacement, so this never fails)."""
    if node is None:
        return ""
    return _source[0][node.start_byte:node.end_byte].decode("utf-8", "replace")


def head(node: ts.Node, end: int) -> str:
    """Source from node's start up to byte `end` (a signature without its body)."""
    return _source[0][node.start_byte:end].decode("utf-8", "replace")


def squash(s: str, limit: int = MAX_SIGNATURE) -> str:
    """Collapse whitespace runs and cap length (signatures span lines in real code)."""
    s = _SPACE.sub(" ", s).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def leading_comment(node: ts.Node) -> str:
    """Comment block directly above node (adjacent lines only), markers stripped."""
    lines: list[str] = []
    expect_row = node.start_point.row
    sib = node.prev_sibling
    while sib is not None and sib.type == "comment" and sib.end_point.row >= expect_row - 1:
        lines[:0] = text(sib).splitlines()
        expect_row = sib.start_point.row
        sib = sib.prev_sibling
    cleaned = [_COMMENT_MARKS.sub("", ln).rstrip().rstrip("*/").rstrip() for ln in lines]
    return "\n".join(ln for ln in cleaned if ln).strip()[:MAX_COMMENT]


def count_errors(root: ts.Node) -> int:
    """Number of ERROR/MISSING nodes; 0 fast when the tree is clean."""
    if not root.has_error:
        return 0
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        stack.extend(c for c in node.children if c.has_error or c.is_missing)
    return max(count, 1)


class Enclosing:
    """Find the innermost callable range containing a byte offset (ranges nest, never cross)."""

    def __init__(self, ranges: list[tuple[int, int, int]]) -> None:
        self._ranges = sorted(ranges, key=lambda r: (r[0], -r[1]))
        self._starts = [r[0] for r in self._ranges]
        # parent[i]: nearest earlier range containing range i, so a miss climbs out in O(depth)
        # instead of scanning back over every sibling (module-level Python calls are common).
        self._parent: list[int] = []
        stack: list[int] = []
        for i, (s, e, _) in enumerate(self._ranges):
            while stack and self._ranges[stack[-1]][1] < e:
                stack.pop()
            self._parent.append(stack[-1] if stack else -1)
            stack.append(i)

    def find(self, start: int, end: int) -> int | None:
        """Payload of the innermost range holding [start, end), or None."""
        i = bisect.bisect_right(self._starts, start) - 1
        while i >= 0:
            s, e, payload = self._ranges[i]
            if s <= start and end <= e:
                return payload
            i = self._parent[i]
        return None


def holds(starts: list[int], node: ts.Node) -> bool:
    """Whether any of the sorted byte offsets lies inside node."""
    i = bisect.bisect_left(starts, node.start_byte)
    return i < len(starts) and starts[i] < node.end_byte


def count_args(args: ts.Node | None, commented: list[int]) -> int:
    """Arguments of a call; comments count as named children, so they are skipped where present."""
    if args is None:
        return 0
    if commented and holds(commented, args):
        return sum(1 for a in args.named_children if a.type != "comment")
    return args.named_child_count
