"""Per-language tree-sitter parsers and the compiled queries (compiled once per process)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import tree_sitter as ts


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
    return ts.QueryCursor(query(lang)).captures(node)
