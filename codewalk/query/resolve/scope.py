"""Lookups both languages' resolution rules share: symbols by qualified name, class chains,
members found through bases, the class that owns a caller.

Everything is memoised for the life of one Resolver (one query process), so a `show` that
resolves a few hundred call sites pays for each distinct lookup once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from codewalk.query.lookup import CALLABLE_KINDS, TYPE_KINDS, Index

Row = sqlite3.Row


@dataclass(slots=True)
class Found:
    """What a language's scope rules made of one call site.

    `targets`: the exact targets (declared ones; overrides are added later as dispatch).
    `external`: non-empty when the call provably leaves the project — a std/library type or
    a builtin, as far as it is known (`std::vector`, `builtins.len`, `torch`).
    `guess`: whether a name-only (heuristic) guess may still be offered when both are empty;
    False when the receiver's type is known, so a guess could only contradict it.
    """

    targets: list[Row] = field(default_factory=list)
    external: str = ""
    guess: bool = True


class Scope:
    """Shared memoised lookups over one Index."""

    def __init__(self, index: Index) -> None:
        self.ix = index
        self.conn = index.conn
        self.chain = lru_cache(maxsize=None)(self._chain)
        self.base_of: Callable[[Row, str], str | None] = lambda row, text: None

    def rows(self, qname: str, kinds: tuple[str, ...]) -> list[Row]:
        """Symbols with exactly this qualified name and one of kinds."""
        return [r for r in self.ix.by_qname(qname) if r["kind"] in kinds]

    def _chain(self, cls: str) -> tuple[str, ...]:
        """cls followed by its resolved base classes, breadth first, cycles cut."""
        seen, order, queue = {cls}, [cls], [cls]
        while queue and len(order) < 64:
            current = queue.pop(0)
            for row in self.rows(current, TYPE_KINDS):
                for base in filter(None, (row["bases"] or "").split("\n")):
                    resolved = self.base_of(row, base)
                    if resolved and resolved not in seen:
                        seen.add(resolved)
                        order.append(resolved)
                        queue.append(resolved)
        return tuple(order)

    def member(self, cls: str, name: str, kinds: tuple[str, ...]) -> list[Row]:
        """First class in cls's chain that has `name` of one of kinds (C++ or Python)."""
        for owner in self.chain(cls):
            hits = self.rows(f"{owner}{_sep(owner)}{name}", kinds)
            if hits:
                return hits
        return []

    def enclosing_class(self, caller: Row) -> str | None:
        """Class owning the caller (climbing out of nested functions), if any."""
        scope = caller["scope"] or ""
        sep = "::" if caller["language"] == "cpp" else "."
        for _ in range(8):
            if not scope:
                return None
            kinds = {r["kind"] for r in self.ix.by_qname(scope)}
            if kinds & set(TYPE_KINDS):
                return scope
            if not kinds & set(CALLABLE_KINDS) and caller["language"] == "python":
                return None
            if caller["language"] == "cpp" and not kinds:
                # out-of-line body of a class declared elsewhere under a namespace we did not see
                return scope
            scope = scope.rpartition(sep)[0]
        return None

    def by_name(self, name: str, language: str) -> list[Row]:
        """Every callable called `name` in one language (the heuristic pool)."""
        return [r for r in self.ix.by_name(name)
                if r["kind"] in CALLABLE_KINDS and r["language"] == language]


def _sep(owner: str) -> str:
    return "." if "." in owner and "::" not in owner else "::"
