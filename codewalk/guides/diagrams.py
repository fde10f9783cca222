"""Diagrams for guides, computed from the index and the core rather than drawn by hand.

- callgraph: a step's symbol and the callees the index resolves exactly;
- queues: the queue transitions the core's scheduler actually makes on the demo trace;
- tree: the prefix tree the core's cache manager holds after the demo trace;
- paging: two requests' block tables in the core, sharing their prefix blocks.

Each is a small `Diagram` (nodes, labelled edges) that the exporters turn into Mermaid or SVG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Diagram:
    """Nodes (id -> label) and directed edges (src, dst, label), laid out left to right."""

    title: str
    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, node_id: str, label: str) -> str:
        self.nodes.setdefault(node_id, label)
        return node_id

    def connect(self, src: str, dst: str, label: str = "") -> None:
        if (src, dst, label) not in self.edges:
            self.edges.append((src, dst, label))


def short(qname: str) -> str:
    """Last two parts of a qualified name: Class::Method or Class.method."""
    sep = "::" if "::" in qname else "."
    return sep.join(qname.split(sep)[-2:])


def callgraph(qname: str, callees: list[str]) -> Diagram:
    d = Diagram(f"calls from {short(qname)}")
    root = d.add("n0", short(qname))
    for i, callee in enumerate(callees, 1):
        d.connect(root, d.add(f"n{i}", short(callee)))
    return d


def queues(engine: Any = None) -> Diagram:
    """Observed queue transitions of the core's scheduler on the schedule demo trace."""
    from codewalk.lessons.replay import schedule_frames

    engine = engine or _engine()
    d = Diagram("request flow between the scheduler's queues (observed in the core)")
    where: dict[int, str] = {}
    counts: dict[tuple[str, str], int] = {}
    for frame in schedule_frames(engine):
        now = _positions(frame)
        for rid, place in now.items():
            before = where.get(rid, "arrived")
            if before != place:
                counts[(before, place)] = counts.get((before, place), 0) + 1
        where.update(now)
    for (a, b), n in counts.items():
        d.connect(d.add(a, a), d.add(b, b), f"{n}×")
    return d


def _positions(frame: Any) -> dict[int, str]:
    pos = {rid: "waiting" for rid in frame.queues.get("waiting", [])}
    pos.update({rid: "running" for rid in frame.queues.get("running", [])})
    pos.update({rid: "swapped" for rid in frame.queues.get("swapped", [])})
    summary = frame.result if isinstance(frame.result, dict) else {}
    for rid in summary.get("finished", []) + summary.get("timed_out", []):
        pos[rid] = "finished"
    return pos


def tree(engine: Any = None) -> Diagram:
    """The prefix tree the core holds after the prefix-cache demo trace."""
    from codewalk.lessons.replay import prefix_cache_frames

    engine = engine or _engine()
    snap = prefix_cache_frames(engine)[-1].snapshot
    d = Diagram("prefix tree in the core after the demo trace")
    root = d.add("root", "root")
    reusable = set(snap["reusable"])
    for n in snap["nodes"]:
        refs = ",".join(map(str, n["active_requests"])) or ("reusable" if n["block_id"] in reusable else "-")
        node = d.add(f"b{n['block_id']}", f"#{n['block_id']} {n['tokens']} refs:{refs}")
        d.connect(root if n["parent"] is None else f"b{n['parent']}", node)
    return d


def paging(engine: Any = None) -> Diagram:
    """Block tables of two requests sharing a 2-block prefix, as the core allocates them."""
    engine = engine or _engine()
    m = engine.PrefixCacheManager(engine.CacheConfig(block_size=4, device_blocks=12, host_blocks=4))
    a, b = list(range(1, 11)), list(range(1, 9)) + [50, 51, 52, 53, 54]
    tables = {}
    for rid, toks in ((1, a), (2, b)):
        _, unique, _ = m.get_request_prefix_block_number(rid, toks)
        m.allocate_request_blocks(rid, unique)
        tables[rid] = m.update_request_tokens(rid, toks)[0]
    d = Diagram("block tables: logical block i of a request -> physical block (core)")
    for rid, ids in tables.items():
        for i, block in enumerate(ids):
            d.connect(d.add(f"r{rid}l{i}", f"req {rid} block {i}"), d.add(f"p{block}", f"physical #{block}"))
    return d


def _engine() -> Any:
    import codewalk.core as engine

    return engine


BUILDERS = {"queues": queues, "tree": tree, "paging": paging}


def for_step(kind: str, located: Any = None) -> Diagram | None:
    """The diagram a step asks for; callgraph needs the step's located symbol."""
    if kind == "callgraph":
        return callgraph(located.qname, located.callees) if located is not None and located.callees else None
    builder = BUILDERS.get(kind)
    return builder() if builder else None


# ---------------------------------------------------------------------- renderings


def mermaid(d: Diagram) -> str:
    """Mermaid flowchart text (left to right)."""
    out = ["flowchart LR"]
    for node_id, label in d.nodes.items():
        out.append(f'  {node_id}["{_mermaid_escape(label)}"]')
    for src, dst, label in d.edges:
        out.append(f"  {src} -->|{_mermaid_escape(label)}| {dst}" if label else f"  {src} --> {dst}")
    return "\n".join(out)


def _mermaid_escape(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;").replace("<", "#lt;").replace(">", "#gt;")


def for_steps(rg: Any) -> list[Diagram | None]:
    """The diagram of every step of a resolved guide, in order (None where a step has none)."""
    return [for_step(rs.step.diagram, rs.located) if rs.step.diagram else None for rs in rg.steps]
