"""`codewalk show`: one symbol's declarations, definition, source, relations and notes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from codewalk.annotations import Note, Notes, annotations_dir, load
from codewalk.lookup import Entity, Index, in_path, qualified_display, rank, split_query
from codewalk.resolve import Edge, Resolver

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


def default_lang() -> str:
    """'zh' when the locale says Chinese, else 'en'."""
    import os

    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def show(ix: Index, query: str, repo_label: str, as_json: bool, with_source: bool,
         lang: str | None = None, pick: int | None = None, heuristic: bool = False) -> int:
    """Print the ranked matches of query (JSON: all of them; text: the first in full, the
    others listed with how to pick them); exit status 1 with suggestions when none matches."""
    doc = show_doc(ix, query, repo_label, lang, pick=pick)
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(doc, ix.root, with_source, heuristic)
    return 0 if doc["matches"] else 1


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
    from codewalk.sources import identify

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


def render(doc: dict, root: Path, with_source: bool, heuristic: bool = False) -> None:
    """Rich terminal rendering of a show document: the first match in full, the rest listed."""
    from codewalk.views.term import console as make_console
    from codewalk.views.term import escape
    console, err = make_console(), make_console(stderr=True)
    for problem in doc.get("annotation_errors", []):
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    if not doc["matches"]:
        name = escape(doc["query"]) if doc["query"] else "(an empty name)"
        where = (f"match {doc['pick']} of {doc['total']} for" if doc.get("pick") and doc.get("total")
                 else "symbol named")
        err.print(f"[red]not found:[/] no {where} [bold]{name}[/] in {escape(doc['repo'])}")
        if doc["suggestions"]:
            err.print("did you mean: " + escape(", ".join(doc["suggestions"])))
        return
    _render_match(console, doc["matches"][0], root, with_source, heuristic)
    _render_others(console, doc)


def _render_others(console, doc: dict) -> None:
    """'N matches, showing 1' and a numbered line per other match, with how to pick one."""
    from codewalk.views.term import escape, rule
    total, matches = doc.get("total", len(doc["matches"])), doc["matches"]
    if doc.get("pick") or total <= 1:
        return
    rule(console, style="dim")
    console.print(f"{total} matches, showing 1–1 (ranked: engine code, annotated, shortest path "
                  f"first); pick another with [bold]--pick N[/] or "
                  f"[bold]{escape(doc['query'])}@path-fragment[/]")
    for i, m in enumerate(matches[1:], start=2):
        d = m["definition"] or (m["declarations"][0] if m["declarations"] else None)
        where = f"  [dim]{escape(d['path'])}:{d['line']}[/]" if d else ""
        console.print(f"  {i:>2}. {m['kind']} {escape(m['qualified_name'])}{where}", soft_wrap=True)


def _render_match(console, m: dict, root: Path, with_source: bool, heuristic: bool = False) -> None:
    from rich.markup import escape
    console.print(f"[bold cyan]{escape(m['kind'])}[/] [bold]{escape(m['qualified_name'])}[/]"
                  f" [dim]({escape(m['language'])})[/]", soft_wrap=True)
    if m["signature"]:
        console.print(f"  [green]{escape(m['signature'])}[/]", soft_wrap=True)
    for d in m["declarations"]:
        console.print(f"  declared  {escape(d['path'])}:{d['line']}", soft_wrap=True)
    for i, d in enumerate(m.get("definitions") or ([m["definition"]] if m["definition"] else [])):
        label = "defined  " if i == 0 else "also def."
        console.print(f"  {label} {escape(d['path'])}:{d['line']}-{d['end_line']}", soft_wrap=True)
    if m.get("comment"):
        console.print("  [italic]" + escape(m["comment"]).replace("\n", "\n  ") + "[/]")
    if m["bases"]:
        console.print("  bases     " + ", ".join(escape(b) for b in m["bases"]), soft_wrap=True)
    if m.get("derived"):
        console.print("  derived   " + ", ".join(escape(b) for b in m["derived"]), soft_wrap=True)
    for a in m["annotations"]:
        console.print(f"  [magenta]note[/] [bold]{escape(a['title'])}[/] [dim]({escape(a['id'])})[/]")
        console.print("    " + escape(a["text"]).replace("\n", "\n    "), soft_wrap=True)
        if a.get("status") == "drifted":
            console.print(f"    [yellow]{escape(drift_line(a))}[/]", soft_wrap=True)
    for c in m.get("counterparts", []):
        console.print(f"  [blue]counterpart[/] {escape(c['source'])}: {escape(c['symbol'])} "
                      f"[dim](via {escape(c['via'])})[/]", soft_wrap=True)
    _render_relations(console, "callers", m["callers"], heuristic)
    _render_relations(console, "callees", m["callees"], heuristic)
    if with_source and m["definition"]:
        _render_source(console, root, m)


def drift_line(note: dict) -> str:
    """The warning under a note whose code changed since it was pinned."""
    pinned = f" ({note['pinned']})" if note.get("pinned") else ""
    return f"code changed since the note was pinned{pinned}; run `codewalk check`"


def _render_relations(console, title: str, rows: list[dict], heuristic: bool) -> None:
    """Project edges, one line per caller/callee with its call lines merged, in source order;
    then one summary line for what was left out (external calls, macros, guesses)."""
    from rich.markup import escape
    lines = relation_lines(rows, heuristic)
    summary = relation_summary(rows, heuristic)
    if not lines and not summary:
        return
    console.print(f"  [bold]{title}[/] ({len(lines)})")
    for ln in lines:
        sites = ", ".join(f"{p}:{','.join(map(str, ls))}" for p, ls in ln["sites"].items())
        extra = ""
        if ln["via"]:
            extra = f" [dim](via {escape(', '.join(ln['via']))})[/]"
        if ln["overrides"]:
            extra += f" [dim]→ overrides: {escape(', '.join(ln['overrides']))}[/]"
        if ln["resolution"] == "heuristic":
            extra += f" [dim](guess: {ln['candidates']} candidate(s))[/]"
        console.print(f"    {escape(ln['qualified_name'])}  [dim]{escape(sites)}[/]{extra}",
                      soft_wrap=True)
    if summary:
        console.print(f"    [dim]{escape(summary)}[/]", soft_wrap=True)


def relation_lines(rows: list[dict], heuristic: bool = False) -> list[dict]:
    """Callers/callees merged per target for reading: exact and dispatch edges to project code
    (heuristic ones only when asked), in order of first call; dispatch targets of a callee
    folded into its line as `overrides`."""
    out: dict[str, dict] = {}
    for r in rows:
        res = r.get("resolution", "heuristic" if r["heuristic"] else "exact")
        if r.get("kind", "project") != "project" or res == "unresolved":
            continue
        if res == "heuristic" and not heuristic:
            continue
        if res == "dispatch" and "via" in r and r.get("definition") is not None:
            base = out.get(r["via"])
            if base is not None:  # a callee: fold the override into the declared target's line
                if r["qualified_name"] not in base["overrides"]:
                    base["overrides"].append(r["qualified_name"])
                continue
        line = out.setdefault(r["qualified_name"], {
            "qualified_name": r["qualified_name"], "sites": {}, "resolution": res,
            "via": [], "overrides": [], "candidates": 0})
        line["sites"].setdefault(r["path"], [])
        if r["line"] not in line["sites"][r["path"]]:
            line["sites"][r["path"]].append(r["line"])
        if res == "dispatch" and r.get("via") and r["via"] not in line["via"]:
            line["via"].append(r["via"])
        if res == "heuristic":
            line["candidates"] += 1
    return list(out.values())


def relation_summary(rows: list[dict], heuristic: bool = False) -> str:
    """One line counting the calls the project list leaves out."""
    external = sum(1 for r in rows if r.get("kind") == "external")
    macros = sum(1 for r in rows if r.get("kind") == "macro")
    unresolved = sum(1 for r in rows if r.get("kind") == "project"
                     and r.get("resolution") == "unresolved")
    guesses = {(r["path"], r["line"]) for r in rows if r.get("resolution") == "heuristic"}
    parts = []
    if external:
        parts.append(f"{external} external call{'s' if external != 1 else ''} (std/library)")
    if macros:
        parts.append(f"{macros} macro{'s' if macros != 1 else ''}")
    if unresolved:
        parts.append(f"{unresolved} unresolved")
    if guesses and not heuristic:
        parts.append(f"{len(guesses)} call site{'s' if len(guesses) != 1 else ''} with name-only "
                     f"guesses (--heuristic)")
    return "+ " + ", ".join(parts) if parts else ""


def _render_source(console, root: Path, m: dict) -> None:
    """Definition source read from the checkout now (it may have changed since indexing)."""
    from codewalk.views.term import escape
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
