"""The site's players: `DIR/play/schedule.html` (the scheduler, step by step) and
`DIR/play/prefix-cache.html` (the prefix-cache block tree), static pages that work from `file://`.

The traces are computed here, in Python, and embedded in each page as JSON (`<` `>` `&` escaped, so
a `</script>` in any value stays text); `player.js` only renders them, every string through
`textContent`. The data comes from `player_data.py`, the one module that imports codewalk internals.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from codewalk.site import player_data

LinkFor = Callable[[str], "str | None"]
ASSETS = ("player.js", "player.css")
# The step summary's keys the page lists under "activity" (hits, swap-outs, recomputes have their own rows).
ACTIVITY = ("prefill", "decode", "swapped_in", "swapout_merged", "swapin_merged", "finished", "timed_out")
QUEUES = ("waiting", "running", "swapped")


def load_trace(path: str | Path) -> list[dict[str, Any]]:
    """A `--trace FILE` (a JSON list of {arrival, prompt, max_new_tokens[, id]}), checked.

    Raises ValueError naming the file and the first bad request."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--trace {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return check_trace(json.loads(text), f"--trace {path}")
    except json.JSONDecodeError as e:
        raise ValueError(f"--trace {path}: not JSON: {e}") from None


def check_trace(trace: Any, where: str = "trace") -> list[dict[str, Any]]:
    """`trace` as `codewalk demo schedule --trace` takes it; ValueError names `where` and the first bad request."""
    try:
        return player_data.validate_trace(trace)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def write_players(out_dir: Path, *, trace: list[dict] | None, real: bool,
                  link_for: LinkFor, trace_name: str | None = None) -> list[Path]:
    """Write `out_dir/play/schedule.html`, `play/prefix-cache.html` and their assets; return the files.

    `trace`: None = the built-in trace, else requests as `demo schedule --trace` takes them (checked:
    ValueError). `real`: also show KsanaLLM's real scheduler beside the core when it is built (the page
    says so when it is not). `link_for(name)`: a URL relative to `out_dir` for a function, or None.
    A file whose content is unchanged is left as it is (a site rebuild rewrites only what changed)."""
    if trace is not None:
        trace = check_trace(trace, f"--trace {trace_name}" if trace_name else "trace")
    play = Path(out_dir) / "play"
    play.mkdir(parents=True, exist_ok=True)
    links = _Links(link_for)
    schedule = schedule_document(trace, real, links, trace_name)
    cache = prefix_cache_document(links)
    written = [_write(play / "schedule.html", render_page(schedule)),
               _write(play / "prefix-cache.html", render_page(cache))]
    for name in ASSETS:
        written.append(_write(play / name, resources.files("codewalk.site").joinpath(name).read_text("utf-8")))
    return written


def _write(path: Path, text: str) -> Path:
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path
    except OSError:  # not there yet
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # never half a page, even if killed
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------- documents


class _Links:
    """`link_for`, asked once per name, its answer made relative to `play/` (unsafe schemes dropped)."""

    def __init__(self, link_for: LinkFor) -> None:
        self._link_for = link_for
        self._seen: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name not in self._seen:
            self._seen[name] = _from_play(self._link_for(name))
        return self._seen[name]


def _from_play(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme:  # an absolute link: only ones that cannot run script
        return url if parts.scheme in ("http", "https", "file") else None
    return url if url.startswith(("/", "#")) else "../" + url


def schedule_document(trace: list[dict] | None, real: bool, links: LinkFor,
                      trace_name: str | None = None) -> dict[str, Any]:
    """The scheduler page's data: the core's steps and, with `real`, the real engine's or why not."""
    total = player_data.device_blocks()
    engines = [{"name": "codewalk core", "key": "core",
                "frames": [schedule_step(f, total, links) for f in player_data.core_schedule(trace)]}]
    note = ""
    if real:
        frames, label = player_data.real_schedule(trace)
        if frames is None:
            note = (f"KsanaLLM's real scheduler is not shown: {label}. Build it with `codewalk upstream build` "
                    f"(see `codewalk demo schedule --engine real`), then build the site again.")
        else:
            real_frames = [schedule_step(f, total, links) for f in frames]
            mark_differences(engines[0]["frames"], real_frames)
            engines.append({"name": f"real: {label}", "key": "real", "frames": real_frames})
    source = f"trace from {trace_name}" if trace_name else ("the given trace" if trace else "the built-in trace")
    return {"kind": "schedule", "title": "Scheduler player", "engines": engines, "note": note,
            "intro": f"ContinuousBatchingStrategy::Schedule step by step on {source}; "
                     f"pool of {total} device blocks. {player_data.SCHEDULE_NOTE}.",
            "other": {"href": "prefix-cache.html", "text": "Prefix-cache player (the block tree, call by call)"}}


COMPARED = ("queues", "blocks", "hits", "swapouts", "recomputes", "activity")


def mark_differences(core: list[dict[str, Any]], other: list[dict[str, Any]]) -> None:
    """Give each of `other`'s steps `differs`: the parts that are not as the core's same step shows them.

    The tree's shape and its block ids are told apart: the core may hand out other free block ids
    than KsanaLLM for the same tree (docs/core.md, children order)."""
    for i, frame in enumerate(other):
        mine = core[i] if i < len(core) else None
        if mine is None:
            frame["differs"] = [*COMPARED, "block tree"]
            continue
        frame["differs"] = [k for k in COMPARED if mine[k] != frame[k]]
        if _shape(mine["tree"]) != _shape(frame["tree"]):
            frame["differs"].append("block tree")
        elif mine["tree"] != frame["tree"]:
            frame["differs"].append("block ids")


def _shape(nodes: list[dict[str, Any]]) -> list[Any]:
    return [({k: v for k, v in n.items() if k not in ("id", "children")}, _shape(n["children"])) for n in nodes]


def prefix_cache_document(links: LinkFor) -> dict[str, Any]:
    """The prefix-cache page's data: one step per PrefixCacheManager call of the built-in trace."""
    frames = [cache_step(f, links) for f in player_data.core_prefix_cache()]
    return {"kind": "prefix-cache", "title": "Prefix-cache player", "note": "",
            "engines": [{"name": "codewalk core", "key": "core", "frames": frames}],
            "intro": "PrefixCacheManager call by call: fill, share, merge, evict and swap, with the block tree "
                     "after each call.",
            "other": {"href": "schedule.html", "text": "Scheduler player"}}


def schedule_step(frame: dict[str, Any], total: int, links: LinkFor) -> dict[str, Any]:
    """One scheduler frame as the page shows it."""
    result, snap = frame.get("result") or {}, frame["snapshot"]
    free, reusable = len(snap.get("free", ())), len(snap.get("reusable", ()))
    queues = frame.get("queues") or {}
    return {"label": str(frame["title"]), "caption": "", "functions": _functions(frame["function"], links),
            "queues": {k: [str(r) for r in queues.get(k, ())] for k in QUEUES},
            "blocks": {"used": max(total - free - reusable, 0), "free": free, "reusable": reusable,
                       "total": total, "future_free": snap.get("future_free", 0)},
            "hits": [f"req {r}: {_tokens(n)}" for r, n in sorted((result.get("prefix_hit_tokens") or {}).items(),
                                                                 key=lambda kv: str(kv[0]))],
            "swapouts": [str(r) for r in result.get("swapped_out", ())],
            "recomputes": [str(r) for r in result.get("recomputed", ())],
            "activity": [f"{k.replace('_', ' ')}: {_ids(result[k])}" for k in ACTIVITY if result.get(k)],
            "result": None, "tree": block_tree(snap)}


def cache_step(frame: dict[str, Any], links: LinkFor) -> dict[str, Any]:
    """One prefix-cache frame as the page shows it."""
    snap = frame["snapshot"]
    counts = {"usable": snap.get("usable", 0), "reusable": len(snap.get("reusable", ())),
              "free": len(snap.get("free", ())), "host free": len(snap.get("host_free", ())),
              "future free": snap.get("future_free", 0)}
    return {"label": str(frame["title"]), "caption": str(frame["title"]),
            "functions": _functions(frame["function"], links), "queues": None,
            "counts": [f"{k} {v}" for k, v in counts.items()], "hits": [], "swapouts": [], "recomputes": [],
            "activity": [], "result": json.dumps(frame.get("result"), default=str), "tree": block_tree(snap)}


def _functions(text: str, links: LinkFor) -> list[dict[str, Any]]:
    # The frames print the chain as "A → B → C"; each name is linked on its own.
    names = [n.strip() for n in str(text).split("→") if n.strip()]
    return [{"name": n, "href": links(n)} for n in names]


def _ids(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        # prefill items are (request, tokens) pairs
        return ", ".join(f"{v[0]} ({_tokens(v[1])})" if isinstance(v, (list, tuple)) and len(v) == 2 else str(v)
                         for v in value)
    return str(value)


def _tokens(n: Any) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def block_tree(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """The snapshot's prefix tree as nested nodes (roots first); a node reached twice is shown once."""
    by_id = {n["block_id"]: n for n in snap.get("nodes", ())}
    reusable = set(snap.get("reusable", ()))
    seen: set[Any] = set()

    def node(n: dict[str, Any]) -> dict[str, Any]:
        seen.add(n["block_id"])
        kids = [by_id[c] for c in n.get("children", ()) if c in by_id and c not in seen]
        return {"id": str(n["block_id"]), "tokens": " ".join(map(str, n.get("tokens", ()))),
                "active": [str(r) for r in n.get("active_requests", ())],
                "swapped": [str(r) for r in n.get("inactive_requests", ())],
                "reusable": n["block_id"] in reusable, "on_device": bool(n.get("on_device", True)),
                "children": [node(c) for c in kids]}

    return [node(n) for n in by_id.values() if n.get("parent") is None and n["block_id"] not in seen]


# ---------------------------------------------------------------------- page


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` survives (nor U+2028/9)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def render_page(doc: dict[str, Any]) -> str:
    """A whole player page for a document of `schedule_document`/`prefix_cache_document`."""
    e = html.escape
    columns = "\n".join(_column(eng, i == 0, doc["kind"]) for i, eng in enumerate(doc["engines"]))
    note = f'<p class="note" id="real-note">{e(doc["note"])}</p>' if doc["note"] else ""
    last = max(len(eng["frames"]) for eng in doc["engines"]) - 1
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(doc["title"])} · codewalk</title>
<link rel="stylesheet" href="player.css">
</head>
<body class="player {e(doc["kind"])}">
<header>
<nav><a href="../index.html">codewalk</a> · <a href="{e(doc["other"]["href"])}">{e(doc["other"]["text"])}</a></nav>
<h1>{e(doc["title"])}</h1>
<p class="intro">{e(doc["intro"])}</p>
{note}
</header>
<div class="controls" role="group" aria-label="step">
<button type="button" id="prev">Prev</button>
<span class="where">Step <output id="step" aria-live="polite">0</output> of 0–{last}</span>
<button type="button" id="next">Next</button>
<span class="hint">(← → keys)</span>
</div>
<p id="caption" class="caption"></p>
<main class="engines">
{columns}
</main>
<noscript><p>The player needs JavaScript; the trace is embedded in this page as JSON.</p></noscript>
<script type="application/json" id="player-data">{embed_json(doc)}</script>
<script src="player.js"></script>
</body>
</html>
"""


def _column(engine: dict[str, Any], primary: bool, kind: str) -> str:
    """One engine's panels; the first engine's parts also carry plain ids (`#waiting`, `#tree`, ...)."""
    def part(name: str, tag: str = "ul") -> str:
        ident = f' id="{name}"' if primary else ""
        return f'<{tag} class="{name}" data-part="{name}"{ident}></{tag}>'

    if kind == "schedule":
        queues = "".join(f'<div class="queue"><h4>{q}</h4>{part(q, "ol")}</div>' for q in QUEUES)
        step = (f'<div class="panel"><h3>Queues</h3><div class="queues">{queues}</div></div>'
                f'<div class="panel"><h3>Blocks</h3>{part("blocks", "div")}</div>'
                f'<div class="panel"><h3>This step</h3><dl class="events">'
                f'<dt>prefix hits</dt><dd>{part("hits")}</dd><dt>swap-outs</dt><dd>{part("swapouts")}</dd>'
                f'<dt>recomputes</dt><dd>{part("recomputes")}</dd><dt>activity</dt><dd>{part("activity")}</dd>'
                f'</dl></div>')
    else:
        step = (f'<div class="panel"><h3>Result</h3>{part("result", "code")}</div>'
                f'<div class="panel"><h3>Blocks</h3>{part("blocks", "div")}</div>')
    return f"""<section class="engine" data-engine="{html.escape(engine["key"])}">
<h2>{html.escape(engine["name"])}</h2>
<p class="ended" data-part="ended" hidden></p>
<p class="differs" data-part="differs" hidden></p>
{step}
<div class="panel"><h3>Functions responsible</h3>{part("functions", "ol")}</div>
<div class="panel"><h3>Prefix-cache block tree</h3>{part("tree", "div")}</div>
</section>"""


def main(argv: list[str] | None = None) -> int:
    """`python -m codewalk.site.player DIR [--trace FILE] [--real]`: the players alone, unlinked."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m codewalk.site.player", description=main.__doc__)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--trace", metavar="FILE")
    p.add_argument("--real", action="store_true")
    args = p.parse_args(argv)
    try:
        trace = load_trace(args.trace) if args.trace else None
        files = write_players(args.out_dir, trace=trace, real=args.real, link_for=lambda _n: None,
                              trace_name=args.trace and Path(args.trace).name)
    except (OSError, ValueError) as e:
        print(f"codewalk site player: {e}", file=sys.stderr)
        return 2
    print("\n".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
