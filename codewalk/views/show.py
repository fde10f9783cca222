"""`codewalk show`: one symbol's declarations, definition, source, relations and notes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from codewalk.annotations import Note, Notes, annotations_dir, load
from codewalk.lookup import Entity, Index, qualified_display
from codewalk.resolve import Edge, Resolver

MAX_SOURCE_LINES = 80


def edge_dicts(resolver: Resolver, edges: list[Edge], side: str) -> list[dict]:
    """Contract rows {qualified_name, path, line, heuristic}: path:line is the call site.

    For callees one row per resolved target entity (plus `definition`); unresolved names are
    kept by name, marked heuristic, with `candidates` = how many same-named callables exist.
    """
    ix = resolver.ix
    out: list[dict] = []
    seen: set[tuple] = set()
    for e in edges:
        site = {"path": ix.path(e.caller), "line": e.line, "heuristic": e.heuristic}
        if side == "callers":
            key = (e.caller["qname"], site["path"], e.line)
            if key not in seen:
                seen.add(key)
                out.append({"qualified_name": e.caller["qname"], **site})
            continue
        targets = resolver.target_entities(e)
        if not targets:
            key = (e.name, e.line)
            if key not in seen:
                seen.add(key)
                out.append({"qualified_name": e.name, **site, "resolved": False})
            continue
        for t in targets:
            key = (t.key, e.line)
            if key in seen:
                continue
            seen.add(key)
            d = t.definitions[0] if t.definitions else t.rows[0]
            out.append({"qualified_name": t.qname, **site, "resolved": True,
                        "definition": {"path": ix.path(d), "line": d["line"]}})
    return out


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
    callable_ = entity.kind not in ("class", "struct", "enum", "namespace", "module", "field")
    return {
        "name": entity.name,
        "qualified_name": entity.qname,
        "kind": entity.kind,
        "language": entity.language,
        "definition": definition,
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


def default_lang() -> str:
    """'zh' when the locale says Chinese, else 'en'."""
    import os

    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def show(ix: Index, query: str, repo_label: str, as_json: bool, with_source: bool,
         lang: str | None = None) -> int:
    """Print every match of query; exit status 1 with suggestions when nothing matches."""
    doc = show_doc(ix, query, repo_label, lang)
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(doc, ix.root, with_source)
    return 0 if doc["matches"] else 1


def show_doc(ix: Index, query: str, repo_label: str, lang: str | None = None, source: str | None = None) -> dict:
    """The `show --json` document for query in one index (source: its name, else identified)."""
    from codewalk.sources import identify

    resolver = Resolver(ix)
    notes = load(annotations_dir(ix.root))
    if source is None:
        source = identify(ix.root, notes.sources, builtin_root=repo_label == "builtin")
    lang = lang or default_lang()
    entities = ix.find(query)
    doc = {"query": query, "repo": repo_label, "source": source, "lang": lang,
           "matches": [match_dict(ix, resolver, e, notes, source, lang) for e in entities],
           "suggestions": [] if entities else ix.suggestions(query)}
    from codewalk.check import mark_drift
    mark_drift(ix, notes, doc["matches"])
    if notes.errors:
        doc["annotation_errors"] = notes.errors
    return doc


def show_all(query: str, as_json: bool, with_source: bool, lang: str | None = None) -> int:
    """`show --all-sources`: query every registered source and core, matches grouped by source.

    JSON: {"query", "sources": {name: <show document>}, "skipped": {name: reason}}; exit status
    1 when no source has a match.
    """
    from codewalk import registry
    from codewalk.corpus import Target, builtin
    from codewalk.session import open_index

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
        from codewalk.sources import identity, known_sources, subtrees_of
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
            ix = open_index(target, progress=not as_json)
        except (OSError, ValueError) as exc:
            skipped[name] = str(exc)
            continue
        try:
            label = "builtin" if target.builtin else str(target.root)
            docs[name] = show_doc(ix, query, label, lang, source=what.get(name, name))
            roots[name] = ix.root
        finally:
            ix.conn.close()
    found = any(d["matches"] for d in docs.values())
    if as_json:
        out: dict = {"query": query, "sources": docs}
        if skipped:
            out["skipped"] = skipped
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0 if found else 1
    render_all(query, docs, roots, skipped, with_source)
    return 0 if found else 1


def render_all(query: str, docs: dict[str, dict], roots: dict[str, Path], skipped: dict[str, str],
               with_source: bool) -> None:
    """Rich rendering of `show --all-sources`: a section per source with matches."""
    from codewalk.views.term import console as make_console
    from codewalk.views.term import escape, rule
    console, err = make_console(), make_console(stderr=True)
    for problem in next((d["annotation_errors"] for d in docs.values() if d.get("annotation_errors")), []):
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    for name, reason in skipped.items():
        err.print(f"[yellow]skipped[/] {escape(name)}: {escape(reason)}")
    hits = {n: d for n, d in docs.items() if d["matches"]}
    for name, doc in hits.items():
        n = len(doc["matches"])
        rule(console, f"[bold]{escape(name)}[/] [dim]{escape(doc['repo'])} — {n} match{'es' if n != 1 else ''}[/]")
        for i, m in enumerate(doc["matches"]):
            if i:
                rule(console, style="dim")
            _render_match(console, m, roots[name], with_source)
    misses = [n for n, d in docs.items() if not d["matches"]]
    if not hits:
        err.print(f"[red]not found:[/] no symbol named [bold]{escape(query)}[/] in any source "
                  f"({escape(', '.join(docs) or 'none')})")
        suggestions = sorted({s for d in docs.values() for s in d["suggestions"]})[:10]
        if suggestions:
            err.print("did you mean: " + escape(", ".join(suggestions)))
    elif misses:
        err.print(f"[dim]no match in: {escape(', '.join(misses))}[/]")


def render(doc: dict, root: Path, with_source: bool) -> None:
    """Rich terminal rendering of a show document."""
    from codewalk.views.term import console as make_console
    from codewalk.views.term import escape, rule
    console, err = make_console(), make_console(stderr=True)
    for problem in doc.get("annotation_errors", []):
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    if not doc["matches"]:
        name = escape(doc["query"]) if doc["query"] else "(an empty name)"
        err.print(f"[red]not found:[/] no symbol named [bold]{name}[/] in {escape(doc['repo'])}")
        if doc["suggestions"]:
            err.print("did you mean: " + escape(", ".join(doc["suggestions"])))
        return
    for i, m in enumerate(doc["matches"]):
        if i:
            rule(console, style="dim")
        _render_match(console, m, root, with_source)


def _render_match(console, m: dict, root: Path, with_source: bool) -> None:
    from rich.markup import escape
    console.print(f"[bold cyan]{escape(m['kind'])}[/] [bold]{escape(m['qualified_name'])}[/]"
                  f" [dim]({escape(m['language'])})[/]")
    if m["signature"]:
        console.print(f"  [green]{escape(m['signature'])}[/]")
    for d in m["declarations"]:
        console.print(f"  declared  {escape(d['path'])}:{d['line']}", soft_wrap=True)
    if m["definition"]:
        d = m["definition"]
        console.print(f"  defined   {escape(d['path'])}:{d['line']}-{d['end_line']}", soft_wrap=True)
    if m.get("comment"):
        console.print("  [italic]" + escape(m["comment"]).replace("\n", "\n  ") + "[/]")
    if m["bases"]:
        console.print("  bases     " + ", ".join(escape(b) for b in m["bases"]))
    if m.get("derived"):
        console.print("  derived   " + ", ".join(escape(b) for b in m["derived"]))
    for a in m["annotations"]:
        console.print(f"  [magenta]note[/] [bold]{escape(a['title'])}[/] [dim]({escape(a['id'])})[/]")
        console.print("    " + escape(a["text"]).replace("\n", "\n    "), soft_wrap=True)
        if a.get("status") == "drifted":
            console.print(f"    [yellow]{escape(drift_line(a))}[/]", soft_wrap=True)
    for c in m.get("counterparts", []):
        console.print(f"  [blue]counterpart[/] {escape(c['source'])}: {escape(c['symbol'])} "
                      f"[dim](via {escape(c['via'])})[/]")
    for title, rows in (("callers", m["callers"]), ("callees", m["callees"])):
        if rows:
            shown = _collapse(rows)
            console.print(f"  [bold]{title}[/] ({len(shown)})")
            for r in shown[:40]:
                mark = ((f" [dim](heuristic: {r['n']} candidates)[/]" if r["n"] else " [dim](unresolved)[/]")
                        if r["heuristic"] else "")
                console.print(f"    {escape(r['label'])}  [dim]{escape(r['path'])}:{r['line']}[/]{mark}",
                              soft_wrap=True)
            if len(shown) > 40:
                console.print(f"    … {len(shown) - 40} more (use --json)")
    if with_source and m["definition"]:
        _render_source(console, root, m)


def drift_line(note: dict) -> str:
    """The warning under a note whose code changed since it was pinned."""
    pinned = f" ({note['pinned']})" if note.get("pinned") else ""
    return f"code changed since the note was pinned{pinned}; run `codewalk check`"


def _collapse(rows: list[dict]) -> list[dict]:
    """One line per call site: heuristic candidates of a site shown as a count."""
    out: dict[tuple, dict] = {}
    for r in rows:
        short = r["qualified_name"].replace(".", "::").split("::")[-1]
        key = (r["path"], r["line"], short) if r["heuristic"] else (r["path"], r["line"], r["qualified_name"])
        if key in out:
            out[key]["n"] += 1
            continue
        label = short if r["heuristic"] else r["qualified_name"]
        out[key] = {**r, "label": label, "n": 1 if r.get("resolved", True) else 0}
    return list(out.values())


def _render_source(console, root: Path, m: dict) -> None:
    """Definition source read from the checkout now (it may have changed since indexing)."""
    d = m["definition"]
    try:
        lines = (root / d["path"]).read_text("utf-8", "replace").splitlines()
    except OSError as exc:
        console.print(f"  [yellow]source unavailable: {escape(str(exc))}[/]")
        return
    start, end = d["line"], min(d["end_line"], d["line"] + MAX_SOURCE_LINES - 1)
    code = "\n".join(lines[start - 1:end])
    from codewalk.views.term import source_lines
    source_lines(console, code, "python" if m["language"] == "python" else "cpp", start)
    if end < d["end_line"]:
        console.print(f"  [dim]… {d['end_line'] - end} more lines[/]")
