"""Open the index for a query: re-index only when the cheap stat check says something moved."""

from __future__ import annotations

import sys
from pathlib import Path

from codewalk.index import store
from codewalk.sources.corpus import Target
from codewalk.query.lookup import Index


def ensure_index(target: Target, progress: bool = False) -> Path:
    """Path of an up-to-date database for target (indexing incrementally if stale)."""
    db = store.db_path(target.root, target.include)
    if db.exists():
        conn = store.connect(db, readonly=True)
        try:
            if store.is_fresh(conn, target.root):
                return db
        finally:
            conn.close()
    from codewalk.index.build import index_repo  # tree-sitter only imported when needed
    stats = index_repo(target.root, target.include, progress=progress)
    if stats.parsed and progress:
        print(f"indexed {stats.parsed} file(s) of {target.root} in {stats.seconds:.2f}s",
              file=sys.stderr)
    return db


def open_index(target: Target, progress: bool = False) -> Index:
    """A read-only Index over target's fresh store."""
    db = ensure_index(target, progress)
    return Index(store.connect(db, readonly=True), target.root)
