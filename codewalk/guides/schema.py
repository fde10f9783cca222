"""Reading guides: ordered steps over notes and symbols (`annotations/guides/*.yaml`).

A guide is data; this module loads and validates it (every problem as `file:line: message`, like
the notes) and resolves each step to what a renderer needs: the note, the symbol, its source and,
when that source's checkout is at hand, where the symbol is and its source text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codewalk.notes.schema import Note, Notes, _compose, _line, _mapping, _value, reflow

GUIDE_KEYS = {"id", "title", "summary", "source", "steps", "requires", "order"}
STEP_KEYS = {"note", "symbol", "source", "prose", "demo", "diagram", "title"}
DIAGRAMS = {"callgraph", "queues", "tree", "paging"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(slots=True)
class Text:
    """A piece of prose in English and Chinese."""

    en: str = ""
    zh: str = ""

    def get(self, lang: str) -> str:
        return (self.zh or self.en) if lang == "zh" else (self.en or self.zh)


@dataclass(slots=True)
class Step:
    """One stop of a guide: a note or a symbol, the prose that leads to it, optional demo/diagram."""

    title: Text
    prose: Text
    note: str = ""
    symbol: str = ""
    source: str = ""
    demo: str = ""
    diagram: str = ""
    line: int = 0


@dataclass(slots=True)
class Guide:
    id: str
    title: Text
    summary: Text
    source: str = ""
    steps: list[Step] = field(default_factory=list)
    path: str = ""
    requires: list[str] = field(default_factory=list)  # guide ids to read first
    order: int = 50  # tie-break among guides whose prerequisites are met (lower first)


@dataclass(slots=True)
class Guides:
    guides: list[Guide] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def get(self, guide_id: str) -> Guide | None:
        return next((g for g in self.guides if g.id == guide_id), None)

    def list_doc(self, lang: str) -> dict:
        """`guide --json`: every guide in reading order with its position and prerequisites."""
        return {"guides": [{"id": g.id, "title": g.title.get(lang), "steps": len(g.steps),
                            "position": i, "requires": g.requires}
                           for i, g in enumerate(self.ordered(), 1)]}

    def ordered(self) -> list[Guide]:
        """Reading order: every guide after the guides it requires; ties by `order`, then id."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(g.id for g in self.guides)
        graph.add_edges_from((r, g.id) for g in self.guides for r in g.requires if self.get(r))
        by_id = {g.id: g for g in self.guides}
        if not nx.is_directed_acyclic_graph(graph):  # reported by load_guides; fall back to file order
            return list(self.guides)
        return [by_id[i] for i in nx.lexicographical_topological_sort(graph, key=lambda i: (by_id[i].order, i))]


def guides_dir(annotations: Path | None) -> Path | None:
    return annotations / "guides" if annotations and (annotations / "guides").is_dir() else None


def load_guides(directory: Path | None, notes: Notes) -> Guides:
    """Every guide under directory, validated against the notes it cites."""
    out = Guides()
    if directory is None:
        return out
    for path in sorted(directory.glob("*.yaml")):
        guide = _load_one(path, notes, out.errors)
        if guide is not None:
            if out.get(guide.id):
                out.errors.append(f"{path}:1: duplicate guide id '{guide.id}'")
                continue
            out.guides.append(guide)
    _check_requires(out)
    return out


def _check_requires(guides: Guides) -> None:
    """Every `requires` names a known guide, and no guide requires itself through others."""
    import networkx as nx

    graph = nx.DiGraph()
    for g in guides.guides:
        for r in g.requires:
            if guides.get(r) is None:
                guides.errors.append(f"{g.path}:1: guide '{g.id}' requires unknown guide '{r}'")
            else:
                graph.add_edge(r, g.id)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    names = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
    guides.errors.append(f"{guides.get(cycle[0][1]).path}:1: guides require each other in a cycle: {names}")


def _text(value: Any, path: Path, line: int, what: str, errors: list[str]) -> Text:
    if isinstance(value, str):
        return Text(en=reflow(value))
    if isinstance(value, dict) and set(value) <= {"en", "zh"} and value:
        return Text(en=reflow(str(value.get("en", ""))), zh=reflow(str(value.get("zh", ""))))
    errors.append(f"{path}:{line}: {what} must be text or {{en, zh}}")
    return Text()


def _requires(value: Any, path: Path, line: int, errors: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and _ID.match(v) for v in value):
        errors.append(f"{path}:{line}: requires must be a guide id or a list of guide ids")
        return []
    return list(dict.fromkeys(value))


def _order(value: Any, path: Path, line: int, errors: list[str]) -> int:
    if value is None:
        return 50
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{path}:{line}: order must be an integer")
        return 50
    return value


def _load_one(path: Path, notes: Notes, errors: list[str]) -> Guide | None:
    import yaml

    holder = Notes()  # the YAML helpers report into a Notes; its errors are ours
    root = _compose(path, holder)
    fields = _mapping(root, path, "a guide", holder) if root is not None else None
    errors += holder.errors
    if fields is None:
        return None
    values, lines, nodes = {}, {}, {}
    for key, node, line in fields:
        if key not in GUIDE_KEYS:
            errors.append(f"{path}:{line}: unknown key '{key}'")
            continue
        values[key], lines[key], nodes[key] = _value(node), line, node
    missing = [k for k in ("id", "title", "summary", "steps") if not values.get(k)]
    if missing:
        errors.append(f"{path}:1: guide missing field(s) {', '.join(missing)}")
        return None
    gid = str(values["id"])
    if not _ID.match(gid) or gid != path.stem:
        errors.append(f"{path}:{lines['id']}: guide id must be lowercase-hyphen and match the file name")
    guide = Guide(gid, _text(values["title"], path, lines["title"], "title", errors),
                  _text(values["summary"], path, lines["summary"], "summary", errors),
                  str(values.get("source") or ""), path=str(path),
                  requires=_requires(values.get("requires"), path, lines.get("requires", 1), errors),
                  order=_order(values.get("order"), path, lines.get("order", 1), errors))
    steps = nodes["steps"]
    if not isinstance(steps, yaml.SequenceNode) or not steps.value:
        errors.append(f"{path}:{lines['steps']}: steps must be a non-empty list")
        return None
    by_id = notes.by_id()
    for node in steps.value:
        step = _step(node, path, guide, by_id, errors)
        if step is not None:
            guide.steps.append(step)
    return guide


def _step(node: Any, path: Path, guide: Guide, by_id: dict[str, Note], errors: list[str]) -> Step | None:
    holder = Notes()
    fields = _mapping(node, path, "a step", holder)
    errors += holder.errors
    if fields is None:
        return None
    values, lines = {}, {}
    for key, vnode, line in fields:
        if key not in STEP_KEYS:
            errors.append(f"{path}:{line}: unknown step key '{key}'")
            continue
        values[key], lines[key] = _value(vnode), line
    at = f"{path}:{_line(node)}"
    note = by_id.get(str(values.get("note", ""))) if values.get("note") else None
    if values.get("note") and note is None:
        errors.append(f"{at}: step names unknown note '{values['note']}'")
        return None
    if not note and not values.get("symbol") and not values.get("prose"):
        errors.append(f"{at}: a step needs a note, a symbol or prose")
        return None
    diagram = str(values.get("diagram") or "")
    if diagram and diagram not in DIAGRAMS:
        errors.append(f"{path}:{lines['diagram']}: diagram must be one of {', '.join(sorted(DIAGRAMS))}")
        diagram = ""
    demo = str(values.get("demo") or "")
    if demo and not demo.startswith("codewalk demo "):
        errors.append(f"{path}:{lines['demo']}: demo must be a `codewalk demo …` command")
        demo = ""
    title = _text(values["title"], path, lines["title"], "title", errors) if values.get("title") else \
        Text(note.title, note.title_zh) if note else Text(str(values.get("symbol", "")))
    return Step(title=title, prose=_text(values.get("prose") or "", path, lines.get("prose", 0), "prose", errors),
                note=note.id if note else "", symbol=note.symbol if note else str(values.get("symbol", "")),
                source=note.source if note else str(values.get("source") or guide.source),
                demo=demo, diagram=diagram, line=_line(node))
