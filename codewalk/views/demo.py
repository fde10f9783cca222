"""Rendering of `codewalk demo prefix-cache|schedule`: frames replayed by `codewalk.lessons.replay`.

Each step prints what changed, the KsanaLLM function responsible, the queues, the block tree
(a rich Tree) and the usable/reusable counts. `--json` prints the same as one document.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.tree import Tree

from codewalk.lessons.replay import SCHEDULE_NOTE, Frame


def block_tree(snapshot: dict[str, Any]) -> Tree:
    """The prefix tree as a rich Tree: block id, tokens, active/inactive requests."""
    root = Tree("[bold]root[/]")
    by_id = {n["block_id"]: n for n in snapshot["nodes"]}
    reusable = set(snapshot["reusable"])

    def label(n: dict[str, Any]) -> str:
        refs = ",".join(str(r) for r in n["active_requests"]) or "-"
        inactive = f" swapped:{','.join(map(str, n['inactive_requests']))}" if n["inactive_requests"] else ""
        tag = " [green]reusable[/]" if n["block_id"] in reusable else ""
        return f"[cyan]#{n['block_id']}[/] {n['tokens']} refs:{refs}{inactive}{tag}"

    def add(parent: Tree, n: dict[str, Any]) -> None:
        branch = parent.add(label(n))
        for c in n["children"]:
            add(branch, by_id[c])

    for n in snapshot["nodes"]:
        if n["parent"] is None:
            add(root, n)
    return root


def _frame_panel(f: Frame) -> Panel:
    counts = Table.grid(padding=(0, 2))
    snap = f.snapshot
    counts.add_row(f"usable [bold]{snap['usable']}[/]", f"reusable [bold]{len(snap['reusable'])}[/]",
                   f"free {len(snap['free'])}", f"host free {len(snap['host_free'])}",
                   f"future free {snap['future_free']}")
    parts: list[Any] = [f"[magenta]{f.function}[/]", f"result: {json.dumps(f.result)}"]
    if f.queues:
        q = Table("waiting", "running", "swapped", box=None)
        q.add_row(*(" ".join(map(str, f.queues[k])) or "-" for k in ("waiting", "running", "swapped")))
        parts.append(q)
    parts += [counts, block_tree(snap)]
    return Panel(Group(*parts), title=f.title, title_align="left")


def render(name: str, frames: list[Frame], as_json: bool = False, console: Console | None = None) -> None:
    """Print a replay: one JSON document, or the config note (schedule) and a panel per frame."""
    from codewalk.views.term import console as make_console

    if as_json:
        print(json.dumps({"demo": name, "frames": [f.to_dict() for f in frames]}, default=str))
        return
    console = console or make_console()
    if name != "prefix-cache":
        console.print(f"config: {SCHEDULE_NOTE}", markup=False)
    for f in frames:
        console.print(_frame_panel(f))
