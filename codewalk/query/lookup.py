"""Read side of the store: name lookup, declaration/definition pairing, suggestions.

Pure SQLite reads; nothing here imports tree-sitter, networkx or GitPython, so `codewalk show`
on a fresh index pays only for Python start-up, sqlite3 and the rendering it asks for.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CALLABLE_KINDS = ("function", "method", "constructor", "destructor", "operator", "macro")
TYPE_KINDS = ("class", "struct", "enum")
_KIND_ORDER = {k: i for i, k in enumerate(
    ("class", "struct", "method", "constructor", "function", "destructor", "operator", "enum",
     "macro", "field", "module", "namespace"))}


@dataclass(slots=True)
class Entity:
    """One logical symbol: its declaration rows and definition rows paired together."""

    qname: str
    name: str
    kind: str
    language: str
    params_key: str
    rows: list[sqlite3.Row] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Graph node id: overloads differ by parameter types."""
        if self.kind in CALLABLE_KINDS and self.language == "cpp":
            return f"{self.qname}({self.params_key})"
        return self.qname

    @property
    def definitions(self) -> list[sqlite3.Row]:
        return [r for r in self.rows if r["is_def"]]

    @property
    def declarations(self) -> list[sqlite3.Row]:
        return [r for r in self.rows if not r["is_def"]]

    @property
    def primary(self) -> sqlite3.Row:
        """The row to describe the entity by: the definition, else the first declaration."""
        defs = self.definitions
        return defs[0] if defs else self.rows[0]


def group_entities(rows: list[sqlite3.Row]) -> list[Entity]:
    """Pair header prototypes with bodies: same qualified name and parameter types, and when
    the keys disagree (renamed parameters, default arguments), a lone prototype with a lone body."""
    by_key: dict[tuple[str, str], list[sqlite3.Row]] = {}
    for row in rows:
        pk = row["params_key"] if row["kind"] in CALLABLE_KINDS else ""
        by_key.setdefault((row["qname"], pk), []).append(row)
    groups = list(by_key.values())
    by_qname: dict[str, list[list[sqlite3.Row]]] = {}
    for g in groups:
        by_qname.setdefault(g[0]["qname"], []).append(g)
    result: list[list[sqlite3.Row]] = []
    for same in by_qname.values():
        decl_only = [g for g in same if not any(r["is_def"] for r in g)]
        def_only = [g for g in same if all(r["is_def"] for r in g)]
        if len(decl_only) == 1 and len(def_only) == 1 and len(same) == 2:
            result.append(def_only[0] + decl_only[0])
        else:
            result.extend(same)
    entities = [_entity(g) for g in result]
    entities.sort(key=lambda e: (_KIND_ORDER.get(e.kind, 99), e.qname, e.params_key))
    return entities


def _entity(rows: list[sqlite3.Row]) -> Entity:
    rows.sort(key=lambda r: (-r["is_def"], r["file_id"], r["line"]))
    decl_kind = next((r["kind"] for r in rows if not r["is_def"]), None)
    primary = rows[0]
    # An out-of-line `ns::A::f` body cannot tell class from namespace; its prototype can.
    kind = decl_kind if decl_kind and primary["kind"] in ("function", "method") else primary["kind"]
    pk = primary["params_key"] if primary["kind"] in CALLABLE_KINDS else ""
    return Entity(primary["qname"], primary["name"], kind, primary["language"], pk, rows)


class Index:
    """A read-only view of one repository's store."""

    def __init__(self, conn: sqlite3.Connection, root: Path) -> None:
        self.conn = conn
        self.root = root
        self.paths = {r[0]: r[1] for r in conn.execute("SELECT id, path FROM files")}
        self.by_qname = lru_cache(maxsize=None)(self._by_qname)
        self.by_name = lru_cache(maxsize=None)(self._by_name)

    def _by_qname(self, qname: str) -> tuple[sqlite3.Row, ...]:
        return self._in_tree_order(self.conn.execute("SELECT * FROM symbols WHERE qname=?", (qname,)))

    def _by_name(self, name: str) -> tuple[sqlite3.Row, ...]:
        return self._in_tree_order(self.conn.execute("SELECT * FROM symbols WHERE name=?", (name,)))

    def _in_tree_order(self, rows: Iterable[sqlite3.Row]) -> tuple[sqlite3.Row, ...]:
        # Symbol ids follow the order workers finished files in; order by place in the tree
        # instead, so every copy of a checkout answers alike.
        return tuple(sorted(rows, key=lambda r: (self.paths.get(r["file_id"], ""), r["line"], r["start_byte"])))

    def symbol(self, symbol_id: int) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM symbols WHERE id=?", (symbol_id,)).fetchone()

    def path(self, row: sqlite3.Row) -> str:
        return self.paths.get(row["file_id"], "?")

    def find(self, query: str, kinds: tuple[str, ...] = ()) -> list[Entity]:
        """Entities named by a simple name, `A::B::f` (any suffix), or a dotted Python path."""
        query = query.strip()
        if "::" not in query and "." not in query:
            rows = list(self.by_name(query))
        else:
            cpp = query.replace(".", "::")
            name = re.split(r"::|\.", query)[-1]
            rows = [r for r in self.by_name(name)
                    if r["qname"] in (query, cpp) or r["qname"].endswith(("." + query, "::" + cpp))]
        if kinds:
            rows = [r for r in rows if r["kind"] in kinds]
        return group_entities(rows)

    def search(self, pattern: str, kind: str | None = None, limit: int = 200) -> list[sqlite3.Row]:
        """Symbols whose qualified name contains pattern (case-insensitive; * and ? are globs)."""
        like = pattern.replace("*", "%").replace("?", "_")
        like = like if "%" in like or "_" in pattern else f"%{like}%"
        sql = ("SELECT symbols.* FROM symbols JOIN files ON files.id = symbols.file_id WHERE qname LIKE ?"
               + (" AND kind=?" if kind else ""))
        # A total order (ties by place in the tree), so two copies of one checkout list alike.
        sql += " ORDER BY length(qname), qname, files.path, symbols.line, symbols.kind LIMIT ?"
        args = (like, kind, limit) if kind else (like, limit)
        return list(self.conn.execute(sql, args))

    def suggestions(self, query: str, limit: int = 8) -> list[str]:
        """Close names for a miss: substring hits, shared CamelCase/snake words, edit distance."""
        name = re.split(r"::|\.", query)[-1]
        if not name:
            return []
        names = [r[0] for r in self.conn.execute(
            "SELECT DISTINCT name FROM symbols WHERE kind != 'namespace'")]
        lowered = name.lower()
        scored: dict[str, float] = {}
        words = {w.lower() for w in _words(name) if len(w) > 2}
        for cand in names:
            low = cand.lower()
            if len(low) < 3:
                continue
            shared = len(words & {w.lower() for w in _words(cand)})
            sub = lowered in low or (len(low) >= 5 and low in lowered)
            if not (sub or shared or abs(len(low) - len(lowered)) <= 3):
                continue
            ratio = difflib.SequenceMatcher(None, lowered, low).ratio()
            score = ratio + 0.5 * sub + 0.35 * shared / max(1, len(words))
            if score >= 0.75:
                scored[cand] = score
        ranked = sorted(scored, key=lambda c: (-scored[c], c))
        return ranked[:limit]


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _words(name: str) -> list[str]:
    """CamelCase and snake_case words: GetCachedBlocks -> Get, Cached, Blocks."""
    return _WORD.findall(name)


def qualified_display(row: sqlite3.Row) -> str:
    """Qualified name with parameter types for C++ callables (tells overloads apart)."""
    if row["language"] == "cpp" and row["kind"] in CALLABLE_KINDS and row["kind"] != "macro":
        return f"{row['qname']}({row['params_key']})"
    return row["qname"]


# Path components that mark code around the engine rather than the engine itself.
_PERIPHERAL = frozenset({"test", "tests", "testing", "unittest", "unittests", "benchmark",
                         "benchmarks", "bench", "third_party", "3rdparty", "thirdparty",
                         "external", "extern", "examples", "example", "mock", "mocks", "tools"})


def peripheral(path: str) -> bool:
    """Tests, benchmarks, examples and vendored code (by folder or file name)."""
    parts = path.lower().split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    return (any(p in _PERIPHERAL for p in parts[:-1]) or stem.startswith("test_")
            or stem.endswith(("_test", "_tests", "_mock", "_benchmark")) or stem == "conftest")


def rank(ix: Index, entities: list[Entity], annotated: set[str] = frozenset()) -> list[Entity]:
    """Matches in the order a reader wants them: engine code before tests, benchmarks and
    vendored code; annotated before unannotated; code before data (fields, aliases); then
    shallower, shorter paths."""
    def key(e: Entity) -> tuple:
        path = ix.path(e.primary)
        return (peripheral(path), e.qname not in annotated, e.kind in ("field", "alias"),
                path.count("/"), len(path), e.qname, e.params_key)
    return sorted(entities, key=key)


def split_query(query: str) -> tuple[str, str]:
    """`NAME@path-fragment` -> (NAME, fragment); a plain name has no fragment."""
    name, at, fragment = query.rpartition("@")
    return (name, fragment) if at and name else (query, "")


def in_path(ix: Index, entity: Entity, fragment: str) -> bool:
    """Whether any declaration or definition of entity lies in a path containing fragment."""
    return any(fragment in ix.path(r) for r in entity.rows)
