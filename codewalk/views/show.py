"""Rendering of `codewalk show`: a show document (`codewalk.query.answer.show_doc`) as JSON or as
rich text — one symbol's declarations, definition, source excerpt, relations and notes."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(doc: dict) -> None:
    """A show document (or `--all-sources` document) on stdout, indented as the contract has it."""
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def render_all(query: str, docs: dict[str, dict], excerpts: dict[str, list[Any]], skipped: dict[str, str]) -> None:
    """Rich rendering of `show --all-sources`: a section per source with matches; `excerpts` holds
    each match's source lines (`answer.definition_source`, None to leave them out)."""
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
            _render_match(console, m, excerpts[name][i])
    misses = [n for n, d in docs.items() if not d["matches"]]
    if not hits:
        err.print(f"[red]not found:[/] no symbol named [bold]{escape(query)}[/] in any source "
                  f"({escape(', '.join(docs) or 'none')})")
        suggestions = sorted({s for d in docs.values() for s in d["suggestions"]})[:10]
        if suggestions:
            err.print("did you mean: " + escape(", ".join(suggestions)))
    elif misses:
        err.print(f"[dim]no match in: {escape(', '.join(misses))}[/]")


def render(doc: dict, excerpt: Any = None, heuristic: bool = False) -> None:
    """Rich terminal rendering of a show document: the first match in full (with `excerpt`, its
    source lines from `answer.definition_source`, if given), the rest listed."""
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
    _render_match(console, doc["matches"][0], excerpt, heuristic)
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


def _render_match(console, m: dict, excerpt: Any, heuristic: bool = False) -> None:
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
    if excerpt is not None:
        _render_source(console, excerpt)


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


def _render_source(console, excerpt: Any) -> None:
    """A definition's source lines (an `answer.Excerpt`), or why they could not be read."""
    from codewalk.views.term import escape, source_lines
    if excerpt.error:
        console.print(f"  [yellow]source unavailable: {escape(excerpt.error)}[/]")
        return
    source_lines(console, excerpt.code, excerpt.language, excerpt.start)
    if excerpt.more:
        console.print(f"  [dim]… {excerpt.more} more lines[/]")
