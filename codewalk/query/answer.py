"""The answers of the code-reading commands as plain data: what the views render and `--json` prints.

`show_doc` is the `show --json` document (issue 4's contract), `all_sources` gathers it per
registered source for `show --all-sources`, `relation_rows` lists callers/callees to a depth,
`search_results` the rows of `search`, `definition_source` the lines the text view prints. Nothing
here prints; every function reads the index, the notes and the checkout and returns data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codewalk.notes.bilingual import default_lang
from codewalk.notes.check import mark_drift
from codewalk.notes.schema import Note, Notes, annotations_dir, load
from codewalk.query.lookup import Entity, Index, in_path, rank, split_query
from codewalk.query.resolve import Edge, Resolver

MAX_SOURCE_LINES = 80


def edge_dicts(resolver: Resolver, edges: list[Edge], side: str) -> list[dict]:
    """Contract rows {qualified_name, path, line, heuristic}: path:line is the call site.

    Every row also says how it was resolved (`resolution`: exact | dispatch | heuristic |
    unresolved; `heuristic` is true exactly for 'heuristic') and what it reaches (`kind`:
    project | external | macro). Callees: one row per target entity (plus `definition`), one
    per override reached by dispatch (`via` = the declared target), and calls with no project
    target kept by name (`resolved` false; `external` names the library type when known).
    Callers: one row per call site; dispatch rows carry `via`.
    """
    ix = resolver.ix
    out: list[dict] = []
    seen: set[tuple] = set()
    for e in edges:
        site = {"path": ix.path(e.caller), "line": e.line,
                "heuristic": e.resolution == "heuristic", "resolution": e.resolution,
                "kind": e.kind}
        if side == "callers":
            key = (e.caller["qname"], site["path"], e.line)
            if key not in seen:
                seen.add(key)
                row = {"qualified_name": e.caller["qname"], **site}
                if e.via is not None:
                    row["via"] = e.via["qname"]
                out.append(row)
            continue
        targets = resolver.target_entities(e)
        if not targets:
            key = (e.name, e.line)
            if key not in seen:
                seen.add(key)
                row = {"qualified_name": e.name, **site, "resolved": False}
                if e.external:
                    row["external"] = e.external
                out.append(row)
            continue
        for t in targets:
            key = (t.key, e.line)
            if key in seen:
                continue
            seen.add(key)
            out.append({"qualified_name": t.qname, **site, "resolved": True,
                        "definition": _where(ix, t)})
        for override, declared in e.overrides:
            for t in resolver.target_entities(Edge(e.caller, e.line, e.name, [override], False)):
                key = (t.key, e.line)
                if key in seen:
                    continue
                seen.add(key)
                out.append({"qualified_name": t.qname, **site, "heuristic": False,
                            "resolution": "dispatch", "via": declared["qname"], "resolved": True,
                            "definition": _where(ix, t)})
    return out


def _where(ix: Index, entity: Entity) -> dict:
    d = entity.definitions[0] if entity.definitions else entity.rows[0]
    return {"path": ix.path(d), "line": d["line"]}


def match_dict(ix: Index, resolver: Resolver, entity: Entity, notes: Notes, source: str = "",
               lang: str = "en") -> dict:
    """The JSON contract for one match (extra keys: comment, derived, scope, ...)."""
    defs, decls = entity.definitions, entity.declarations
    primary = entity.primary
    definition = None
    if defs and (entity.kind not in ("namespace", "module") or len(defs) == 1):
        d = defs[0]
        definition = {"path": ix.path(d), "line": d["line"], "end_line": d["end_line"]}
    bases = list(resolver.chain(entity.qname)[1:]) if entity.kind in ("class", "struct") else []
    raw_bases = [b for b in (primary["bases"] or "").split("\n") if b]
    callable_ = entity.kind not in ("class", "struct", "enum", "namespace", "module", "field",
                                    "alias")
    return {
        "name": entity.name,
        "qualified_name": entity.qname,
        "kind": entity.kind,
        "language": entity.language,
        "definition": definition,
        "definitions": [{"path": ix.path(d), "line": d["line"], "end_line": d["end_line"]}
                        for d in defs] if entity.kind not in ("namespace", "module") else [],
        "declarations": [{"path": ix.path(r), "line": r["line"]} for r in decls],
        "signature": (decls[0] if decls else primary)["signature"],
        "comment": primary["comment"] or next((r["comment"] for r in decls if r["comment"]), ""),
        "params": entity.params_key,
        "callers": edge_dicts(resolver, resolver.callers(entity), "callers") if callable_ else [],
        "callees": edge_dicts(resolver, resolver.callees(entity), "callees") if callable_ else [],
        "bases": bases or raw_bases,
        "derived": derived(ix, entity) if entity.kind in ("class", "struct") else [],
        "annotations": [note_dict(n, lang) for n in notes.for_symbol(entity.qname, source or None)],
        "counterparts": counterparts(notes, source, entity.qname),
    }


def note_dict(note: Note, lang: str) -> dict:
    """A note as `show` reports it: id and title (the contract) plus its text in `lang`."""
    return {"id": note.id, "title": note.heading(lang), "source": note.source, "text": note.text(lang),
            "concepts": note.concepts}


def counterparts(notes: Notes, source: str, qname: str) -> list[dict]:
    """The same idea in the other sources: see_also links from this symbol's notes, and notes
    elsewhere that link to this symbol."""
    out: dict[tuple[str, str], str] = {}
    by_id = notes.by_id()
    for note in notes.for_symbol(qname, source or None):
        for link in note.see_also:
            target = by_id.get(link.note)
            src, sym = (target.source, target.symbol) if target else (link.source, link.symbol)
            if src and src != note.source:
                out.setdefault((src, sym), note.id)
    for note in notes.notes:
        if note.source == source:
            continue
        if any(link.source == source and link.symbol == qname for link in note.see_also):
            out.setdefault((note.source, note.symbol), note.id)
    return [{"source": s, "symbol": q, "via": via} for (s, q), via in sorted(out.items())]


def derived(ix: Index, entity: Entity) -> list[str]:
    """Classes naming this one (by simple or qualified name) among their bases."""
    rows = ix.conn.execute(
        "SELECT qname, bases FROM symbols WHERE bases LIKE ? AND kind IN ('class','struct')",
        (f"%{entity.name}%",))
    out = []
    for qname, bases in rows:
        names = [b.split("<")[0].strip() for b in bases.split("\n")]
        if any(b == entity.name or b.endswith(("::" + entity.name, "." + entity.name))
               or entity.qname.endswith(b) for b in names):
            out.append(qname)
    return sorted(set(out))


def ranked_matches(ix: Index, query: str, notes: Notes, source: str) -> list[Entity]:
    """Entities a query names (`NAME` or `NAME@path-fragment`), ranked for a reader."""
    name, fragment = split_query(query)
    entities = ix.find(name)
    if fragment:
        entities = [e for e in entities if in_path(ix, e, fragment)]
    annotated = {e.qname for e in entities if notes.for_symbol(e.qname, source or None)}
    return rank(ix, entities, annotated)


def show_doc(ix: Index, query: str, repo_label: str, lang: str | None = None,
             source: str | None = None, pick: int | None = None) -> dict:
    """The `show --json` document for query in one index (source: its name, else identified)."""
    from codewalk.sources.checkouts import identify

    resolver = Resolver(ix)
    notes = load(annotations_dir(ix.root))
    if source is None:
        source = identify(ix.root, notes.sources, builtin_root=repo_label == "builtin")
    lang = lang or default_lang()
    entities = ranked_matches(ix, query, notes, source)
    total = len(entities)
    if pick is not None:
        entities = entities[pick - 1: pick] if 1 <= pick <= total else []
    doc = {"query": query, "repo": repo_label, "source": source, "lang": lang,
           "total": total, "pick": pick,
           "matches": [match_dict(ix, resolver, e, notes, source, lang) for e in entities],
           "suggestions": [] if total else ix.suggestions(split_query(query)[0])}
    mark_drift(ix, notes, doc["matches"])
    if notes.errors:
        doc["annotation_errors"] = notes.errors
    return doc


def all_sources(query: str, lang: str | None = None, progress: bool = False
                ) -> tuple[dict[str, dict], dict[str, Path], dict[str, str]]:
    """`show --all-sources`: the show document of query in every registered source and `core`.

    Returns (documents by source name, the root each was read from, sources skipped with why).
    """
    from codewalk.query.session import open_index
    from codewalk.sources import registry
    from codewalk.sources.checkouts import identity, known_sources, subtrees_of
    from codewalk.sources.corpus import Target, builtin

    targets: dict[str, Target] = {}
    what: dict[str, str] = {}
    skipped: dict[str, str] = {}
    try:
        entries = registry.load()
    except ValueError as exc:
        entries, skipped["registry"] = {}, str(exc)
    for name, entry in sorted(entries.items()):
        if not entry.path.is_dir():
            skipped[name] = f"{entry.location} is gone (`codewalk source remove {name}`)"
            continue
        known = known_sources()
        what[name] = name if name in known else identity(entry, known) or name  # what its notes are under
        targets[name] = Target(entry.path, subtrees_of(what[name]))
    try:
        targets.setdefault("core", builtin())
    except FileNotFoundError as exc:
        skipped["core"] = str(exc)
    docs: dict[str, dict] = {}
    roots: dict[str, Path] = {}
    for name, target in targets.items():
        try:
            ix = open_index(target, progress=progress)
        except (OSError, ValueError) as exc:
            skipped[name] = str(exc)
            continue
        try:
            label = "builtin" if target.builtin else str(target.root)
            docs[name] = show_doc(ix, query, label, lang, source=what.get(name, name))
            roots[name] = ix.root
        finally:
            ix.conn.close()
    return docs, roots, skipped


def all_sources_doc(query: str, docs: dict[str, dict], skipped: dict[str, str]) -> dict:
    """The `show --all-sources --json` document: {"query", "sources": {name: doc}, "skipped"?}."""
    out: dict = {"query": query, "sources": docs}
    if skipped:
        out["skipped"] = skipped
    return out


def relation_rows(resolver: Resolver, entity: Entity, direction: str, depth: int) -> list[dict]:
    """Depth-first listing of callers/callees up to depth, each entity expanded once."""
    out: list[dict] = []
    seen = {entity.key}

    def visit(ent: Entity, level: int) -> None:
        edges = resolver.callers(ent) if direction == "callers" else resolver.callees(ent)
        for row in edge_dicts(resolver, edges, direction):
            out.append({**row, "depth": level})
            if level >= depth or row["resolution"] not in ("exact", "dispatch") \
                    or row["kind"] != "project":
                continue
            for nxt in resolver.ix.find(row["qualified_name"]):
                if nxt.key not in seen:
                    seen.add(nxt.key)
                    visit(nxt, level + 1)
    visit(entity, 1)
    return out


def relations_matches(ix: Index, entities: list[Entity], direction: str, depth: int) -> list[dict]:
    """`callers`/`callees` matches: {qualified_name, kind, <direction>: rows} per entity."""
    resolver = Resolver(ix)
    return [{"qualified_name": e.qname, "kind": e.kind, direction: relation_rows(resolver, e, direction, depth)}
            for e in entities]


def symbol_kinds(ix: Index) -> list[str]:
    """Every symbol kind the index holds, sorted (what `search --kind` accepts)."""
    return sorted(r[0] for r in ix.conn.execute("SELECT DISTINCT kind FROM symbols"))


def search_results(ix: Index, pattern: str, kind: str | None, limit: int) -> tuple[list[dict], bool]:
    """`search` rows (at most limit) and whether more matched."""
    rows = ix.search(pattern, kind, limit=limit + 1)
    truncated = len(rows) > limit
    return [{"qualified_name": r["qname"], "kind": r["kind"], "language": r["language"],
             "path": ix.path(r), "line": r["line"], "is_definition": bool(r["is_def"])}
            for r in rows[:limit]], truncated


@dataclass(slots=True)
class Excerpt:
    """The first lines of a definition as the checkout holds them now (it may have changed since
    indexing): `code` from line `start`, `more` lines cut; or the `error` that kept it unread."""

    language: str
    start: int = 0
    code: str = ""
    more: int = 0
    error: str = ""


def definition_source(root: Path, match: dict, max_lines: int = MAX_SOURCE_LINES) -> Excerpt | None:
    """The source of a show match's definition, read from the checkout; None without a definition."""
    d = match["definition"]
    if not d:
        return None
    language = "python" if match["language"] == "python" else "cpp"
    try:
        lines = (root / d["path"]).read_text("utf-8", "replace").splitlines()
    except OSError as exc:
        return Excerpt(language, error=str(exc))
    start, end = d["line"], min(d["end_line"], d["line"] + max_lines - 1)
    return Excerpt(language, start, "\n".join(lines[start - 1:end]), d["end_line"] - end)
