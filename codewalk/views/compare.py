"""Rendering of `codewalk demo compare`: the comparison `codewalk.lessons.compare.compare()` builds,
as tables (trace, steps side by side, summary, first divergence) or one JSON document.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from codewalk.views.term import console as _term_console  # pipe-safe; one helper for every view


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "[dim]done[/]"
    parts = []
    if s["prefill"]:
        parts.append("prefill " + " ".join(f"{r}:{n}" + (f"(hit {s['hits'][r]})" if s["hits"].get(r) else "")
                                           for r, n in s["prefill"].items()))
    if s["decode"]:
        parts.append("decode " + " ".join(map(str, s["decode"])))
    for key, label in (("swapped_out", "swap-out"), ("swapped_in", "swap-in"), ("recomputed", "preempt→recompute"),
                       ("finished", "finished")):
        if s[key]:
            parts.append(f"[bold]{label}[/] " + " ".join(map(str, s[key])))
    parts.append(f"[dim]held {s['held']}[/]")
    return "\n".join(parts)


def render(doc: dict[str, Any], as_json: bool = False, console: Console | None = None) -> None:
    """Print a comparison (`codewalk.lessons.compare.compare()`): one JSON document, or tables."""
    if as_json:
        print(json.dumps(doc))
        return
    console = console or _term_console()
    trace = Table("req", "arrives", "prompt", "max new", title="trace", title_justify="left")
    for t in doc["trace"]:
        trace.add_row(str(t["req_id"]), str(t["arrival"]), " ".join(map(str, t["prompt"])), str(t["max_new_tokens"]))
    console.print(trace)
    c = doc["config"]
    console.print(f"block_size {c['block_size']}, {c['usable_blocks']} usable device blocks each, "
                  f"batch ≤ {c['max_batch_size']}, ≤ {c['max_step_tokens']} tokens per step; KsanaLLM's "
                  f"launch/swap-in block thresholds set to 0 (its default is 2.0) so both keep no blocks in reserve")
    div_step = doc["divergence"]["step"] if doc["divergence"] else None
    steps = Table("step", "KsanaLLM (ContinuousBatchingStrategy)", "vLLM v1 (Scheduler.schedule)", show_lines=True)
    for s in doc["steps"]:
        mark = " ◀ first difference" if s["step"] == div_step else ""
        steps.add_row(f"{s['step']}{mark}", _cell(s["ksanallm"]), _cell(s["vllm"]))
    console.print(steps)
    summ = Table("", "KsanaLLM", "vLLM", title="summary", title_justify="left")
    labels = {"prefix_hit_tokens": "prefix hit tokens", "peak_blocks_held": "peak blocks held",
              "preemptions": "preemptions", "swaps_out": "swap-outs", "swaps_in": "swap-ins",
              "recomputes": "recomputes", "tokens_computed": "tokens computed (prefill+decode)",
              "prompt_tokens": "prompt tokens", "steps_to_finish": "steps to finish"}
    for key, label in labels.items():
        summ.add_row(label, str(doc["summary"]["ksanallm"][key]), str(doc["summary"]["vllm"][key]))
    console.print(summ)
    d = doc["divergence"]
    if d:
        console.print(Panel(f"{d['what']}\n\n[bold]why:[/] {d['why']}\n\n"
                            f"[magenta]KsanaLLM:[/] {', '.join(d['ksanallm'])}\n"
                            f"[magenta]vLLM:[/] {', '.join(d['vllm'])}",
                            title=f"first divergence: step {d['step']}", title_align="left"))
    else:
        console.print("the two schedules are identical on this trace")
