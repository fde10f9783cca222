"""Rendering of the two computed demos: `paged-vs-contiguous` (`codewalk/lessons/paging.py`) and
`online-softmax` (`codewalk/lessons/flash.py`), from the documents those modules build. Rich tables
in the terminal; `--json` prints the document as it is.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


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
