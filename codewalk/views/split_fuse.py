"""Rendering of `codewalk demo split-fuse`: the document `codewalk.lessons.split_fuse.document` builds,
as one table per scenario or one JSON document.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from codewalk.lessons.split_fuse import BLOCK, LONG_ARRIVAL, LONG_PROMPT, SHORT_PROMPT, SPLIT


def _table(name: str, scenario: dict[str, Any]) -> Table:
    t = Table("step", "req 2 chunk", f"(n+{BLOCK})/{BLOCK}", "new", "req 2 blocks", "decode", "waiting", "usable",
              "what happened", title=f"{name}: {scenario['device_blocks']} device blocks", title_justify="left")
    for r in scenario["steps"]:
        chunk = f"[{r['chunk'][0]}, {r['chunk'][1]})" + (" last" if r.get("last_chunk") else "") \
            if "chunk" in r else "-"
        events = list(r["events"])
        if r["finished"]:
            events.append(f"finished {r['finished']}")
        if r["swapped_out"]:
            events.append(f"swapped out {r['swapped_out']}")
        t.add_row(str(r["step"]), chunk, str(r.get("asked_blocks", "-")), str(r.get("new_blocks", "-")),
                  " ".join(map(str, r["long_blocks"])) or "-", " ".join(map(str, r["decode"])) or "-",
                  " ".join(map(str, r["waiting"])) or "-", str(r["usable_blocks"]), "; ".join(events))
    return t


def render(doc: dict[str, Any], as_json: bool = False, console: Console | None = None) -> None:
    """Print the demo document (`codewalk.lessons.split_fuse.document`): tables, or one JSON document."""
    if as_json:
        print(json.dumps(doc))
        return
    console = console or Console()
    console.print(f"Request 1 ({len(SHORT_PROMPT)} tokens) decodes; request 2 ({len(LONG_PROMPT)} tokens) arrives "
                  f"at step {LONG_ARRIVAL} and is prefilled {SPLIT} tokens per step "
                  f"(block_size={BLOCK}, split_fuse_token_num={SPLIT}).")
    for name, scenario in doc["scenarios"].items():
        console.print(_table(name, scenario))
