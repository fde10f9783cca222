"""Rendering of the two computed demos: `paged-vs-contiguous` (codewalk/paging.py) and
`online-softmax` (codewalk/flash.py). Rich tables in the terminal, one JSON document with --json.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from codewalk import flash, paging
from codewalk.views.term import console as _term_console  # pipe-safe; one helper for every view


def paging_document(requests: int = paging.DEFAULT_REQUESTS, seed: int = 0, block_size: int = paging.DEFAULT_BLOCK,
                    max_len: int = paging.DEFAULT_MAX_LEN, budget: int = paging.DEFAULT_BUDGET) -> dict[str, Any]:
    """The `--json` document of `codewalk demo paged-vs-contiguous`."""
    work = paging.generate_workload(requests, seed, max_len)
    return {"demo": "paged-vs-contiguous", "seed": seed, "block_size": block_size, "max_len": max_len,
            **paging.compare(work, block_size, max_len, budget),
            "sample": [{"rid": r.rid, "prompt": r.prompt, "output": r.output, "tokens": r.tokens,
                        "paged_blocks": paging.blocks_for(r.tokens, block_size),
                        "paged_waste": paging.blocks_for(r.tokens, block_size) * block_size - r.tokens,
                        "contiguous_waste": max_len - r.tokens} for r in work[:8]]}


def _n(value: int) -> str:
    """Compact count: 7,459 / 2.05M / 1.20G."""
    if value >= 1_000_000_000:
        return f"{value / 1e9:.2f}G"
    if value >= 1_000_000:
        return f"{value / 1e6:.2f}M"
    return f"{value:,}"


def _stats_table(title: str, view: dict[str, Any], lifetime: bool) -> Table:
    unit = "slot·steps" if lifetime else "token slots"
    t = Table(title=title, title_justify="left")
    t.add_column("scheme")
    for col in ("reserved", "used", "internal frag.", "reservation", "% wasted"):
        t.add_column(col, justify="right")
    for name in ("contiguous", "paged"):
        s = view[name]
        colour = "red" if s["waste_pct"] >= 20 else "green"
        t.add_row(name, _n(s["reserved"]), _n(s["used"]), _n(s["internal_fragmentation"]),
                  _n(s["reservation_waste"]), f"[{colour}]{s['waste_pct']:.1f} %[/]")
    t.caption = (f"{unit}; used = slots holding KV; internal frag. = reserved, never written; "
                 "reservation = held for tokens not generated yet")
    return t


def render_paging(doc: dict[str, Any], console: Console) -> None:
    w = doc["workload"]
    dist = Table(title=f"workload: {w['requests']} requests, seed {doc['seed']} "
                       f"(log-normal, ShareGPT-like means; capped at max_len {doc['max_len']})", title_justify="left")
    dist.add_column("tokens")
    for col in ("mean", "p50", "p90", "p99", "max"):
        dist.add_column(col, justify="right")
    for key in ("prompt", "output", "total"):
        d = w[key]
        dist.add_row(key, f"{d['mean']:.1f}", str(d["p50"]), str(d["p90"]), str(d["p99"]), str(d["max"]))
    console.print(dist)

    sample = Table(title=f"first requests (block size {doc['block_size']})", title_justify="left")
    for col in ("rid", "prompt", "output", "tokens", "paged blocks", "paged waste", "contiguous waste"):
        sample.add_column(col, justify="right")
    for r in doc["sample"]:
        sample.add_row(*(str(r[k]) for k in ("rid", "prompt", "output", "tokens", "paged_blocks", "paged_waste",
                                              "contiguous_waste")))
    console.print(sample)

    console.print(_stats_table("at each request's final length (peak KV)", doc["peak"], lifetime=False))
    console.print(_stats_table("over every decode step (slots reserved × steps held)", doc["lifetime"],
                               lifetime=True))
    c = doc["concurrency"]
    ratio = f" — {c['paged'] / c['contiguous']:.1f}× the batch" if c["contiguous"] else ""
    console.print(f"In a budget of [bold]{c['budget_slots']:,}[/] token slots: contiguous holds "
                  f"[bold]{c['contiguous']}[/] requests (budget // {doc['max_len']}), paged holds "
                  f"[bold]{c['paged']}[/] (each charged its final block count){ratio}.")
    pk = doc["peak"]
    console.print(f"Paging wastes {pk['paged']['waste_pct']:.1f} % (only each request's last block); "
                  f"reserving max_len wastes {pk['contiguous']['waste_pct']:.1f} %.")


def flash_document(seq: int = 64, dim: int = 16, block: int = 16, seed: int = 0) -> dict[str, Any]:
    """The `--json` document of `codewalk demo online-softmax`: the check plus a tiny traced case."""
    main = flash.check(seq, dim, block, seed)
    tiny = flash.check(min(seq, 10), min(dim, 4), min(block, 4), seed)
    return {"demo": "online-softmax", **main, "tiny": tiny}


def _fmt(x: float | None) -> str:
    return "−∞" if x is None else f"{x:+.6f}"


def render_flash(doc: dict[str, Any], console: Console) -> None:
    ok = "[green]equal[/]" if doc["ok"] else "[red]DIFFERENT[/]"
    console.print(f"softmax(QKᵀ/√d)V, Q/K/V {doc['seq']}×{doc['dim']} (seed {doc['seed']}), "
                  f"K/V in {doc['tiles']} tiles of {doc['block']}: max |naive − tiled| = "
                  f"[bold]{doc['max_abs_diff']:.3e}[/] → {ok} within {doc['tolerance']:g}")
    tiny = doc["tiny"]
    t = Table(title=f"tiny case {tiny['seq']}×{tiny['dim']}, tiles of {tiny['block']}: "
                    f"query row {tiny['trace_row']}'s running state",
              title_justify="left")
    for col in ("tile", "keys", "tile max", "m before", "m after", "scale = e^(m_old−m_new)", "l after"):
        t.add_column(col, justify="right")
    for s in tiny["trace"]:
        grew = "[yellow]" if s["m_old"] is None or s["m_new"] > s["m_old"] else ""
        t.add_row(str(s["tile"]), f"{s['start']}–{s['stop'] - 1}", _fmt(s["tile_max"]), _fmt(s["m_old"]),
                  f"{grew}{_fmt(s['m_new'])}", f"{s['scale']:.6f}", f"{s['l']:.6f}")
    t.caption = ("when the max grows (yellow) the sum l and the accumulator are multiplied by scale; "
                 "out = acc / l after the last tile")
    console.print(t)
    console.print(f"row {tiny['trace_row']}, first values: naive {['%.9f' % x for x in tiny['row_naive']]}")
    console.print(f"                     tiled {['%.9f' % x for x in tiny['row_tiled']]}  "
                  f"(tiny case max diff {tiny['max_abs_diff']:.3e})")


def run_paging(requests: int, seed: int, block_size: int, max_len: int, budget: int, as_json: bool = False,
               console: Console | None = None) -> int:
    doc = paging_document(requests, seed, block_size, max_len, budget)
    if as_json:
        print(json.dumps(doc))
        return 0
    render_paging(doc, console or _term_console())
    return 0


def run_flash(seq: int, dim: int, block: int, seed: int, as_json: bool = False, console: Console | None = None) -> int:
    doc = flash_document(seq, dim, block, seed)
    if as_json:
        print(json.dumps(doc))
    else:
        render_flash(doc, console or _term_console())
    return 0 if doc["ok"] and doc["tiny"]["ok"] else 1
