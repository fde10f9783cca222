"""Plain-text rendering of `callers`/`callees` (rows from `codewalk.query.answer.relations_matches`)
and `search` (rows from `answer.search_results`): one line per row, greppable."""

from __future__ import annotations

import sys


def render_relations(matches: list[dict], direction: str, heuristic: bool) -> None:
    """Per match, its project callers/callees indented by depth; then a count of the rows left out."""
    for m in matches:
        print(f"{m['kind']} {m['qualified_name']} — {direction}")
        left_out = 0
        for r in m[direction]:
            if r["kind"] != "project" or r["resolution"] == "unresolved" \
                    or r["heuristic"] and not heuristic:
                left_out += 1
                continue
            mark = {"heuristic": " (heuristic)", "dispatch": f" (dispatch via {r.get('via', '?')})"}
            print(f"{'  ' * r['depth']}{r['qualified_name']}  {r['path']}:{r['line']}"
                  f"{mark.get(r['resolution'], '')}")
        if left_out:
            print(f"  + {left_out} external, macro, unresolved or guessed call(s) not listed "
                  f"(--json has them{'' if heuristic else '; --heuristic lists guesses'})")


def render_search(results: list[dict], truncated: bool, pattern: str, kind: str | None, label: str,
                  limit: int) -> None:
    """One line per result; on stderr, why there is none or that the list was cut at limit."""
    for r in results:
        print(f"{r['kind']:<12} {r['qualified_name']}  {r['path']}:{r['line']}")
    if not results:
        print(f"no symbol matches {pattern!r}" + (f" of kind {kind}" if kind else "")
              + f" in {label}", file=sys.stderr)
    if truncated:
        print(f"showing the first {limit} results; narrow PATTERN, add --kind or raise --limit",
              file=sys.stderr)
