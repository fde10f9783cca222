"""codewalk's side of bench/calls.py: index a checkout and resolve every call site of the
selected files through `codewalk.query.resolve.Resolver`, as `show`/`callees` would."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from calls_score import CwSite


def codewalk_sites(root: Path, selected: Callable[[str], bool]) -> tuple[list[CwSite], dict]:
    """Every stored call site in files for which `selected(relative path)` holds, resolved.

    Returns the sites and timings ({'index_s', 'resolve_s'}); the index lives in the store under
    $CODEWALK_HOME like any `codewalk index`, so reruns only re-parse changed files."""
    from codewalk.index.build import index_repo
    try:
        from codewalk.index import store
        from codewalk.query.lookup import Index
        from codewalk.query.resolve import Resolver
    except ImportError:  # `--codewalk DIR`: a checkout from before codewalk/ was regrouped by concern
        from codewalk import store  # type: ignore[no-redef]
        from codewalk.lookup import Index  # type: ignore[no-redef]
        from codewalk.resolve import Resolver  # type: ignore[no-redef]

    started = time.perf_counter()
    stats = index_repo(root)
    indexed = time.perf_counter()
    conn = store.connect(Path(stats.db), readonly=True)
    try:
        ix = Index(conn, root.resolve())
        resolver = Resolver(ix)
        callers: dict[int, object] = {}
        sites: list[CwSite] = []
        for file_id, path in sorted(ix.paths.items(), key=lambda p: p[1]):
            if not selected(path):
                continue
            for call in conn.execute("SELECT * FROM calls WHERE file_id=? ORDER BY rowid", (file_id,)):
                cid = call["caller_id"]
                if cid not in callers:
                    callers[cid] = ix.symbol(cid) if cid is not None else None
                caller = callers[cid]
                if caller is None:
                    continue
                edge = resolver.resolve(call, caller)
                sites.append(CwSite(path, call["line"], call["name"], edge.resolution, edge.kind,
                                    [t["qname"] for t in edge.targets], caller["qname"],
                                    edge.external or "", len(edge.overrides), call["kind"],
                                    call["receiver"] or ""))
    finally:
        conn.close()
    return sites, {"index_s": round(indexed - started, 2),
                   "resolve_s": round(time.perf_counter() - indexed, 2)}
