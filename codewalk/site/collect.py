"""Read one source's index into a `SourceData`: symbols, ranked; every call resolved once.

The index is never re-parsed: symbols and call sites come from the SQLite store, and each call
site is resolved with the same `Resolver` `show` uses, in up to `jobs` forked processes (each
opens its own read-only connection). Callers are the inversion of those forward edges, so one
pass gives every panel its callers and callees.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Any, Callable

from codewalk.site import data
from codewalk.site.model import HIDDEN_KINDS, PANEL_KINDS, FileData, Link, Ref, SourceData, Sym

# A resolved call: (file_id, line, name, caller row id, target row ids, [(override id, declared id)]).
Resolved = tuple[int, int, str, int, list[int], list[tuple[int, int]]]

_WORKER: dict[str, Any] = {}


def collect(name: str, target: data.Target, notes: data.Notes, jobs: int = 0,
            tick: Callable[[int], None] | None = None, history: bool = False) -> SourceData:
    """Everything the pages of source `name` need, from its (fresh) index."""
    ix = data.open_index(target, progress=sys.stderr.isatty())
    try:
        notes_source = data.identify(target.root, target.builtin) or name
        src = SourceData(name, notes_source, str(target.root), notes.sources[notes_source].title
                         if notes_source in notes.sources else name, builtin=target.builtin)
        rows = list(ix.conn.execute("SELECT * FROM symbols"))
        by_id = {r["id"]: r for r in rows}
        for fid, path, language, digest in ix.conn.execute("SELECT id, path, language, digest FROM files"):
            if language:
                src.files[path] = FileData(path, language, digest or "")
        entities = data.group_entities([r for r in rows if r["kind"] not in HIDDEN_KINDS])
        row_sym = _symbols(src, ix, entities, notes)
        calls = _resolve_all(target, ix, jobs, tick)
        _edges(src, ix, by_id, row_sym, calls)
        _inheritance(src, ix, entities, row_sym)
        _anchors(src, entities, ix, row_sym)
        _imports(src, ix)
        if history:
            _history(src, target)
        return src
    finally:
        ix.conn.close()


def _symbols(src: SourceData, ix: data.Index, entities: list[data.Entity], notes: data.Notes) -> dict[int, int]:
    """Sym records in entity order; returns row id -> symbol index."""
    by_symbol: dict[str, list[data.Note]] = {}
    for note in notes.notes:
        if note.source == src.notes_source:
            by_symbol.setdefault(note.symbol, []).append(note)
    annotated = {e.qname for e in entities if e.qname in by_symbol}
    order = {id(e): i for i, e in enumerate(data.rank_entities(ix, entities, annotated))}
    row_sym: dict[int, int] = {}
    for i, e in enumerate(entities):
        anchor = e.primary
        decls = e.declarations
        sym = Sym(i, e.qname, e.name, e.kind, e.language, ix.path(anchor), anchor["line"],
                  (decls[0] if decls else anchor)["signature"] or "",
                  defs=[(ix.path(r), r["line"], r["end_line"]) for r in e.definitions],
                  decls=[(ix.path(r), r["line"]) for r in decls], rank=order[id(e)])
        if e.qname in by_symbol:
            sym.notes = _notes(ix, notes, by_symbol[e.qname])
            sym.counterparts = data.counterparts(notes, src.notes_source, e.qname)
        src.syms.append(sym)
        for r in e.rows:
            row_sym[r["id"]] = i
    return row_sym


def _notes(ix: data.Index, notes: data.Notes, found: list[data.Note]) -> list[dict]:
    """The symbol's notes in both languages, with drift status as `show` computes it."""
    out = [{"id": n.id, "title": n.heading("en"), "title_zh": n.heading("zh"), "text": n.text("en"),
            "text_zh": n.text("zh"), "concepts": list(n.concepts)} for n in found]
    data.mark_drift(ix, notes, [{"annotations": out}])
    return out


def _resolve_all(target: data.Target, ix: data.Index, jobs: int,
                 tick: Callable[[int], None] | None) -> list[Resolved]:
    """Every call site of the index, resolved; forked workers when there are enough of them."""
    files = [r[0] for r in ix.conn.execute(
        "SELECT file_id, count(*) FROM calls GROUP BY file_id ORDER BY count(*) DESC")]
    jobs = jobs or min(2, os.cpu_count() or 1)
    if jobs <= 1 or len(files) < 40 or "fork" not in multiprocessing.get_all_start_methods():
        out = []
        for chunk in _chunks(files, 16):
            out.extend(_resolve_files(ix, chunk))
            if tick:
                tick(len(chunk))
        _WORKER.pop("resolver", None), _WORKER.pop("rows", None)  # they hold the index open
        return out
    _WORKER["target"] = target
    out = []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        chunks = _chunks(files, 16)
        for chunk, result in zip(chunks, pool.imap(_worker_chunk, chunks)):
            out.extend(result)
            if tick:
                tick(len(chunk))
    return out


def _chunks(items: list[int], size: int) -> list[list[int]]:
    # Interleaved so every chunk mixes big and small files (the list is sorted by size).
    n = max(1, (len(items) + size - 1) // size)
    return [items[i::n] for i in range(n)]


def _worker_chunk(file_ids: list[int]) -> list[Resolved]:
    if "ix" not in _WORKER:
        _WORKER["ix"] = data.reopen(_WORKER["target"])
    return _resolve_files(_WORKER["ix"], file_ids)


def _resolve_files(ix: data.Index, file_ids: list[int]) -> list[Resolved]:
    resolver = _WORKER.get("resolver")
    if resolver is None or resolver.ix is not ix:
        resolver = _WORKER["resolver"] = data.Resolver(ix)
        _WORKER["rows"] = {r["id"]: r for r in ix.conn.execute("SELECT * FROM symbols")}
    rows = _WORKER["rows"]
    out: list[Resolved] = []
    for fid in file_ids:
        for call in ix.conn.execute("SELECT * FROM calls WHERE file_id=? ORDER BY line, rowid", (fid,)):
            caller = rows.get(call["caller_id"])
            if caller is None:
                continue
            edge = resolver.resolve(call, caller)
            if edge.resolution != "exact" or not edge.targets:
                continue
            out.append((fid, call["line"], call["name"], caller["id"], [t["id"] for t in edge.targets],
                        [(o["id"], d["id"]) for o, d in edge.overrides]))
    return out


def _edges(src: SourceData, ix: data.Index, by_id: dict, row_sym: dict[int, int],
           calls: list[Resolved]) -> None:
    """Links per file, callees per caller and their inversion, callers."""
    seen: set[tuple] = set()
    for fid, line, name, caller_id, targets, overrides in calls:
        path = ix.paths.get(fid)
        caller = row_sym.get(caller_id)
        tsyms = list(dict.fromkeys(row_sym[t] for t in targets if t in row_sym))
        osyms = list(dict.fromkeys(row_sym[o] for o, _ in overrides if o in row_sym))
        if not tsyms or path not in src.files:
            continue
        src.files[path].links.append(Link(line, name, tsyms[0], tsyms[1:] + [o for o in osyms
                                                                            if o not in tsyms]))
        if caller is None:
            continue
        for t in tsyms:
            if (caller, t, line, path) not in seen:
                seen.add((caller, t, line, path))
                src.syms[caller].callees.append(Ref(t, path, line))
                src.syms[t].callers.append(Ref(caller, path, line))
        for o, d in overrides:
            if o in row_sym and d in by_id and (caller, row_sym[o], line, path) not in seen:
                seen.add((caller, row_sym[o], line, path))
                via = by_id[d]["qname"]
                src.syms[caller].callees.append(Ref(row_sym[o], path, line, via))
                src.syms[row_sym[o]].callers.append(Ref(caller, path, line, via))


def _inheritance(src: SourceData, ix: data.Index, entities: list[data.Entity], row_sym: dict[int, int]) -> None:
    """Direct bases as the resolver resolves them, and their inversion (derived classes)."""
    resolver = data.Resolver(ix)
    by_qname: dict[str, int] = {}
    for s in src.syms:
        if s.kind in ("class", "struct"):
            by_qname.setdefault(s.qname, s.idx)
    for e in entities:
        if e.kind not in ("class", "struct"):
            continue
        sym = src.syms[row_sym[e.primary["id"]]]
        for text in filter(None, (e.primary["bases"] or "").split("\n")):
            qname = resolver.base_of(e.primary, text)
            if qname in by_qname and by_qname[qname] != sym.idx:
                sym.bases.append(by_qname[qname])
                src.syms[by_qname[qname]].derived.append(sym.idx)
                f = src.files.get(sym.path)
                if f is not None:  # the base's name on the class's line links to the base
                    f.links.append(Link(e.primary["line"], text.split("<")[0].replace(
                        "::", ".").rsplit(".", 1)[-1].strip(), by_qname[qname]))
            else:
                sym.base_names.append(text)


def _anchors(src: SourceData, entities: list[data.Entity], ix: data.Index, row_sym: dict[int, int]) -> None:
    """Panels for the kinds that get one; every declaration and definition line links its name."""
    used: dict[str, set[str]] = {}
    for s in src.syms:
        f = src.files.get(s.path)
        if f is None:
            continue
        f.defined.append(s.idx)
        if s.kind in PANEL_KINDS:
            taken = used.setdefault(s.path, set())
            anchor, n = f"S{s.line}", 1
            while anchor in taken:
                n += 1
                anchor = f"S{s.line}-{n}"
            taken.add(anchor)
            s.anchor = anchor
    for e in entities:
        for r in e.rows:
            f = src.files.get(ix.path(r))
            if f is not None:
                f.links.append(Link(r["line"], e.name, row_sym[r["id"]]))


def _imports(src: SourceData, ix: data.Index) -> None:
    """`from m import Name` links Name to its definition when the index has that exact symbol."""
    by_qname: dict[str, int] = {}
    for s in src.syms:
        by_qname.setdefault(s.qname, s.idx)
    rows = ix.conn.execute("SELECT i.file_id, i.target, i.line FROM imports i JOIN files f ON f.id = i.file_id "
                           "WHERE f.language = 'python'")
    for fid, target, line in rows:
        sym = by_qname.get(target or "")
        path = ix.paths.get(fid)
        if sym is not None and path in src.files:
            src.files[path].links.append(Link(line, target.rsplit(".", 1)[-1], sym))


def _history(src: SourceData, target: data.Target) -> None:
    """Commits that changed each annotated symbol (only those: each means re-reading its file
    at every commit that touched it; one walk per file serves all its symbols)."""
    from pathlib import Path

    noted = [s for s in src.syms if s.notes and s.defs]
    wanted: dict[str, list[str]] = {}
    for s in noted:
        wanted.setdefault(s.defs[0][0], []).append(s.qname)
    found = data.symbol_histories(Path(src.root), wanted)
    for s in noted:
        s.history = found.get((s.defs[0][0], s.qname), [])
