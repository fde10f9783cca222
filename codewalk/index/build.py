"""Index a repository root into its SQLite store: list, diff, parse in parallel, write atomically."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from codewalk import store
from codewalk.index import language_for
from codewalk.index.walk import list_files
from codewalk.index.worker import Job, Packed, digest, max_bytes, read, run_batch

# Below this many changed files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 64
BATCH = 16


@dataclass(slots=True)
class IndexStats:
    """What `codewalk index` reports."""

    root: str
    files: int = 0
    parsed: int = 0
    removed: int = 0
    symbols: int = 0
    edges: int = 0
    parse_errors: int = 0
    seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    db: str = ""


def module_name(rel: str, root: Path, cache: dict[str, bool]) -> tuple[str, bool]:
    """Dotted module for a .py path: climbs while the directory is a package (has __init__.py)."""
    parts = rel[:-3].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    depth = len(parts) - (0 if is_package else 1)
    keep = depth
    while keep > 0:
        d = "/".join(parts[:keep])
        if d not in cache:
            cache[d] = (root / d / "__init__.py").is_file()
        if not cache[d]:
            break
        keep -= 1
    return ".".join(parts[keep:]) or rel[:-3].replace("/", "."), is_package


def _plan(conn: sqlite3.Connection, root: Path, files: list[str]) -> tuple[list[str], list[str], Counter]:
    """(paths to parse, stored paths to delete, skip counts); unchanged-content files keep rows."""
    stored = {r["path"]: r for r in conn.execute("SELECT id, path, size, mtime_ns, digest FROM files")}
    listed = set(files)
    removed = [p for p in stored if p not in listed]
    todo: list[str] = []
    for rel in files:
        row = stored.get(rel)
        key = store.stat_key(root / rel)
        if row is not None and key == (row["size"], row["mtime_ns"]):
            continue
        if row is not None and row["digest"] and key is not None:
            data, size, mtime, _ = read(root / rel, max_bytes())
            if data is not None and digest(data) == row["digest"]:
                # touched but identical: refresh the stat, skip the parse
                conn.execute("UPDATE files SET size=?, mtime_ns=? WHERE id=?", (size, mtime, row["id"]))
                continue
        todo.append(rel)
    return todo, removed, Counter()


def _jobs(root: Path, paths: list[str]) -> list[Job]:
    cache: dict[str, bool] = {}
    limit = max_bytes()
    jobs = []
    for rel in paths:
        lang = language_for(rel) or "cpp"
        module, pkg = module_name(rel, root, cache) if lang == "python" else ("", False)
        jobs.append(Job(str(root), rel, lang, module, pkg, limit))
    return jobs


def _results(jobs: list[Job], workers: int) -> Iterator[Packed]:
    """Parse serially for small batches, else across a process pool (queries compiled once each)."""
    if workers <= 1 or len(jobs) < PARALLEL_THRESHOLD:
        yield from run_batch(jobs)
        return
    from codewalk.index.parse import warm_up
    # Biggest files first so one huge file does not finish alone at the end.
    jobs = sorted(jobs, key=lambda j: -_size(Path(j.root) / j.path))
    batches = [jobs[i::max(1, len(jobs) // BATCH)] for i in range(max(1, len(jobs) // BATCH))]
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=warm_up) as pool:
        futures = [pool.submit(run_batch, b) for b in batches]
        for fut in as_completed(futures):
            yield from fut.result()


def _size(path: Path) -> int:
    key = store.stat_key(path)
    return key[0] if key else 0


def write_result(conn: sqlite3.Connection, res: Packed, next_id: list[int]) -> None:
    """Replace one file's rows. Symbol ids are assigned here so calls can refer to callers."""
    path, language, size, mtime, dig, errors, warning, syms, calls, imports = res
    row = conn.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()
    if row is not None:
        _delete_file_rows(conn, row[0])
    if warning and not syms:
        language = "skipped"
    cur = conn.execute(
        "INSERT INTO files(path, language, size, mtime_ns, digest, parse_errors, module) "
        "VALUES(?,?,?,?,?,?,?)", (path, language, size, mtime, dig, errors, warning))
    file_id = cur.lastrowid
    base = next_id[0]
    next_id[0] += len(syms)
    conn.executemany("INSERT INTO symbols VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     [(base + i, file_id, *s, language) for i, s in enumerate(syms)])
    conn.executemany("INSERT INTO calls VALUES(?,?,?,?,?,?,?,?)",
                     [(file_id, base + c[0], *c[1:]) for c in calls])
    conn.executemany("INSERT INTO imports VALUES(?,?,?,?)", [(file_id, *i) for i in imports])


def _delete_file_rows(conn: sqlite3.Connection, file_id: int) -> None:
    for table in ("symbols", "calls", "imports"):
        conn.execute(f"DELETE FROM {table} WHERE file_id=?", (file_id,))
    conn.execute("DELETE FROM files WHERE id=?", (file_id,))


def _record_dirs(conn: sqlite3.Connection, root: Path, dirs: list[str]) -> None:
    conn.execute("DELETE FROM dirs")
    rows = []
    for d in dirs:
        key = store.stat_key(root / d if d else root)
        if key is not None:
            rows.append((d, key[1]))
    conn.executemany("INSERT OR REPLACE INTO dirs VALUES(?,?)", rows)


def _totals(conn: sqlite3.Connection, stats: IndexStats) -> None:
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    stats.files = one("SELECT COUNT(*) FROM files WHERE language != 'skipped'")
    stats.symbols = one("SELECT COUNT(*) FROM symbols")
    stats.parse_errors = one("SELECT COUNT(*) FROM files WHERE parse_errors > 0")
    # edges: call sites + inheritance + includes/imports + containment
    stats.edges = (one("SELECT COUNT(*) FROM calls") + one("SELECT COUNT(*) FROM imports")
                   + one("SELECT COUNT(*) FROM symbols WHERE bases != ''")
                   + one("SELECT COUNT(*) FROM symbols WHERE scope != ''"))
    skipped = Counter(r[0].split(" (")[0] for r in conn.execute(
        "SELECT module FROM files WHERE language='skipped'"))
    stats.skipped.update(skipped)


def index_repo(root: Path, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
               jobs: int | None = None, progress: bool = False) -> IndexStats:
    """Bring the store for root up to date; everything is written in a single transaction."""
    started = time.perf_counter()
    root = root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    stats = IndexStats(root=str(root), db=str(store.db_path(root, include)))
    listing = list_files(root, include, exclude)
    conn = store.connect(Path(stats.db))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _update(conn, root, listing.files, listing.dirs, stats, jobs, progress)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    for reason, n in listing.skipped.items():
        stats.skipped[reason] = stats.skipped.get(reason, 0) + n
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _update(conn: sqlite3.Connection, root: Path, files: list[str], dirs: list[str],
            stats: IndexStats, jobs: int | None, progress: bool) -> None:
    if not store.is_current(conn):
        store.reset(conn)
    todo, removed, _ = _plan(conn, root, files)
    for rel in removed:
        row = conn.execute("SELECT id FROM files WHERE path=?", (rel,)).fetchone()
        _delete_file_rows(conn, row[0])
    next_id = [conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM symbols").fetchone()[0]]
    workers = jobs or os.cpu_count() or 1
    with _progress(progress, len(todo)) as advance:
        for res in _results(_jobs(root, todo), workers):
            write_result(conn, res, next_id)
            advance()
    _record_dirs(conn, root, dirs)
    store.set_meta(conn, "root", str(root))
    stats.parsed, stats.removed = len(todo), len(removed)
    _totals(conn, stats)


class _progress:
    """Rich progress bar on stderr when asked and a TTY; otherwise a no-op."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and total > 0 and sys.stderr.isatty()
        self.total = total
        self.bar = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress
        # auto_refresh=False: no refresh thread, so forking the parser pool stays safe.
        self.bar = Progress(console=Console(stderr=True), transient=True, auto_refresh=False)
        self.bar.start()
        task = self.bar.add_task("indexing", total=self.total)

        def advance() -> None:
            self.bar.advance(task)
            self.bar.refresh()
        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
