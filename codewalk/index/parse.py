"""Per-language tree-sitter parsers and the compiled queries (compiled once per process)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import tree_sitter as ts


# Matches are looked for down to this tree depth and no deeper. Real code stays within a few
# hundred levels; past 65,535 tree-sitter's 16-bit state depth wraps and a query over a 200k-deep
# file ran for minutes. Below the limit the cursor never descends, so such a file stays linear.
MAX_QUERY_DEPTH = 10_000


@cache
def language(lang: str) -> ts.Language:
    """The tree-sitter Language for 'cpp' or 'python'."""
    if lang == "cpp":
        import tree_sitter_cpp as grammar
    else:
        import tree_sitter_python as grammar
    return ts.Language(grammar.language())


@cache
def parser(lang: str) -> ts.Parser:
    """A reusable parser; one per process is enough because parsing is synchronous."""
    return ts.Parser(language(lang))


def query_source(lang: str) -> str:
    """Text of queries/<lang>.scm, shipped as package data."""
    return resources.files("codewalk.index").joinpath("queries", f"{lang}.scm").read_text("utf-8")


@cache
def query(lang: str) -> ts.Query:
    """The compiled query for a language; compiling costs milliseconds, so never per file."""
    return ts.Query(language(lang), query_source(lang))


def warm_up() -> None:
    """Compile both queries now (pool initializer, so each worker pays once)."""
    for lang in ("cpp", "python"):
        query(lang)
        parser(lang)


def parse(lang: str, source: bytes) -> ts.Tree:
    """Parse bytes into a tree."""
    return parser(lang).parse(source)


def captures(lang: str, node: ts.Node) -> dict[str, list[ts.Node]]:
    """All captures of the language query under node, by capture name."""
    cursor = ts.QueryCursor(query(lang))
    cursor.set_max_start_depth(MAX_QUERY_DEPTH)
    return direct_children(cursor.captures(node))


def direct_children(caps: dict[str, list[ts.Node]]) -> dict[str, list[ts.Node]]:
    """Resolve `@NAME.parent` / `@NAME.child` capture pairs into `@NAME`: the child nodes that
    are direct children of a parent node, in source order, added to any direct `@NAME` captures.

    The queries write `(parent (child))` this way because tree-sitter's cursor keeps a state open
    for every enclosing parent while it walks the parent's subtree: time O(size x depth). Here
    each parent's children are listed once, so the cost is linear whatever the nesting.
    """
    for name in [n for n in caps if n.endswith(".parent")]:
        base = name[: -len(".parent")]
        wanted = {c.id for c in caps.pop(base + ".child", ())}
        parents = caps.pop(name)
        if not wanted:
            continue
        kept = [c for p in parents for c in p.named_children if c.id in wanted]
        if kept:
            merged = list(caps.get(base, ())) + kept
            merged.sort(key=_start)
            caps[base] = merged
    for name in [n for n in caps if n.endswith(".child")]:
        del caps[name]  # a child kind whose parent kind never occurred in this file
    return caps


def _start(node: ts.Node) -> int:
    return node.start_byte
