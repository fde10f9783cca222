"""Index a repository root into its SQLite store: list, diff, parse in parallel, write atomically."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import sys
import time
from collections import Counter
import shutil
import tempfile
from queue import Empty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from codewalk.index import store
from codewalk.index import language_for
from codewalk.index.walk import list_files
from codewalk.index.worker import Job, Packed, digest, max_bytes, read, rows, run_batch, serve

# Below this many changed files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 64
MAX_CHUNK = 64
# Each parser process stages into its own SQLite files, ATTACHed to the store to merge them
# (and only detachable after COMMIT); SQLite attaches at most 10 databases (9 besides main).
MAX_WORKERS = 9


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
    error_files: list[str] = field(default_factory=list)  # paths of the files with parse errors
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
        if row is None:  # new file (every file of a first index): nothing to compare
            todo.append(rel)
            continue
        key = store.stat_key(root / rel)
        if key == (row["size"], row["mtime_ns"]):
            continue
        if row["digest"] and key is not None:
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


def _chunks(jobs: list[Job], root: Path, workers: int) -> tuple[list[list[Job]], tuple[int, ...]]:
    """Biggest files first, in chunks that shrink towards the end (guided scheduling): few
    round-trips early, and the last chunks are small so both cores finish together.

    Also the chunk numbers at which workers start a new staging segment (see worker.serve):
    at 50%, 75% and 90% of the bytes, so all but a small last segment are merged while
    parsing still runs. Every worker has at most len(bounds)+1 segments attached."""
    sized = sorted(((_size(root / j.path), j) for j in jobs), key=lambda t: -t[0])
    total = sum(size for size, _ in sized) or 1
    chunks: list[list[Job]] = []
    weights: list[int] = []
    current: list[Job] = []
    acc, remaining = 0, total
    for size, job in sized:
        current.append(job)
        acc += size
        # each chunk takes ~1/(8*workers) of what is left, but at most MAX_CHUNK files
        if acc >= remaining / (8 * workers) or len(current) >= MAX_CHUNK:
            chunks.append(current)
            weights.append(acc)
            remaining -= acc
            current, acc = [], 0
    if current:
        chunks.append(current)
        weights.append(acc)
    segments = max(1, MAX_WORKERS // workers)
    marks = (0.5, 0.75, 0.9)[: segments - 1]
    bounds, acc, k = [], 0, 0
    for i, weight in enumerate(weights):
        while k < len(marks) and acc >= marks[k] * total:
            bounds.append(i)
            k += 1
        acc += weight
    return chunks, tuple(bounds)


class _Parsers:
    """Parser processes (see worker.serve). Started before the file listing on a full index,
    so their imports and query compilation overlap with the listing and planning here."""

    def __init__(self, workers: int) -> None:
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.tmp = tempfile.mkdtemp(prefix="codewalk-stage-")
        _staging_dirs.append(self.tmp)
        self.counter = ctx.Value("q", 0)
        self.work = ctx.Queue()
        self.queue = ctx.Queue()
        self.procs = [ctx.Process(target=serve, daemon=True, args=(
            self.work, self.counter, self.queue, os.path.join(self.tmp, f"w{i}")))
            for i in range(min(workers, MAX_WORKERS))]
        for p in self.procs:
            p.start()

    def run(self, conn: sqlite3.Connection, root: Path, jobs: list[Job],
            advance: Callable[[int], None]) -> None:
        """Parse jobs; each staging segment is merged (inside the caller's transaction) as soon
        as it is reported. Staging files stay ATTACHed until _detach_all after COMMIT/ROLLBACK."""
        chunks, bounds = _chunks(jobs, root, len(self.procs))
        for _ in self.procs:
            self.work.put((chunks, bounds))
        done = merged = 0
        while done < len(self.procs):
            try:
                msg = self.queue.get(timeout=0.5)
            except Empty:
                dead = [p for p in self.procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"parser process died (exit code {dead[0].exitcode})")
                continue
            if msg[0] == "files":
                advance(msg[1])
            elif msg[0] in ("segment", "done"):
                _merge(conn, msg[1], merged)
                merged += 1
                done += msg[0] == "done"
            else:
                raise RuntimeError("parser process failed:\n" + msg[1])

    def close(self) -> None:
        """Stop whatever still runs (unused pool, error, Ctrl-C) and reap the processes."""
        for p in self.procs:
            if p.is_alive():
                p.terminate()
            p.join()
        self.work.close()
        self.queue.close()


_staging_dirs: list[str] = []


def _merge(conn: sqlite3.Connection, db: str, n: int) -> None:
    """Copy one staging database into the store, shifting its file and symbol ids past ours."""
    alias = f"stage{n}"
    conn.execute(f"ATTACH DATABASE ? AS {alias}", (db,))
    fo = conn.execute("SELECT COALESCE(MAX(id), 0) FROM files").fetchone()[0]
    so = conn.execute("SELECT COALESCE(MAX(id), 0) FROM symbols").fetchone()[0]
    conn.execute(f"INSERT INTO files SELECT id + {fo}, path, language, size, mtime_ns, digest, "
                 f"parse_errors, module FROM {alias}.files")
    conn.execute(f"INSERT INTO symbols SELECT id + {so}, file_id + {fo}, name, qname, kind, line, "
                 f"end_line, is_def, scope, signature, params_key, comment, start_byte, end_byte, "
                 f"bases, type_text, language FROM {alias}.symbols")
    conn.execute(f"INSERT INTO calls SELECT file_id + {fo}, caller_id + {so}, name, kind, line, "
                 f"receiver, qualifier, nargs FROM {alias}.calls")
    conn.execute(f"INSERT INTO imports SELECT file_id + {fo}, target, alias, line FROM {alias}.imports")


def _detach_all(conn: sqlite3.Connection) -> None:
    """After COMMIT/ROLLBACK: detach staging databases and delete their files."""
    for (_, name, _) in conn.execute("PRAGMA database_list").fetchall():
        if name.startswith("stage"):
            conn.execute(f"DETACH DATABASE {name}")
    while _staging_dirs:
        shutil.rmtree(_staging_dirs.pop(), ignore_errors=True)


def _size(path: Path) -> int:
    key = store.stat_key(path)
    return key[0] if key else 0


def write_result(conn: sqlite3.Connection, res: Packed, next_id: list[int]) -> None:
    """Replace one file's rows (serial path). Symbol ids are assigned here so calls can refer
    to callers."""
    row = conn.execute("SELECT id FROM files WHERE path=?", (res[0],)).fetchone()
    if row is not None:
        _delete_file_rows(conn, row[0])
    file_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM files").fetchone()[0]
    file_row, syms, calls, imports = rows(res, file_id, next_id[0])
    next_id[0] += len(syms)
    conn.execute("INSERT INTO files VALUES(?,?,?,?,?,?,?,?)", file_row)
    conn.executemany("INSERT INTO symbols VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", syms)
    conn.executemany("INSERT INTO calls VALUES(?,?,?,?,?,?,?,?)", calls)
    conn.executemany("INSERT INTO imports VALUES(?,?,?,?)", imports)


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
    stats.error_files = [r[0] for r in conn.execute("SELECT path FROM files WHERE parse_errors > 0 ORDER BY path")]
    stats.parse_errors = len(stats.error_files)
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
    conn = store.connect(Path(stats.db))
    workers = jobs or os.cpu_count() or 1
    # No current index means every file will be parsed: start the parsers right away.
    parsers = _Parsers(workers) if workers > 1 and not store.is_current(conn) else None
    try:
        listing = list_files(root, include, exclude)
    except BaseException:
        if parsers is not None:
            parsers.close()
        conn.close()
        raise
    # The whole index is written in one transaction: a page cache big enough for it means no
    # spilling dirty pages (and syncing the journal) mid-way. Memory only; safety unchanged.
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA temp_store=MEMORY")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _update(conn, root, listing.files, listing.dirs, stats, workers, progress, parsers)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            if parsers is not None:
                parsers.close()
            _detach_all(conn)
    finally:
        conn.close()
    for reason, n in listing.skipped.items():
        stats.skipped[reason] = stats.skipped.get(reason, 0) + n
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _update(conn: sqlite3.Connection, root: Path, files: list[str], dirs: list[str],
            stats: IndexStats, workers: int, progress: bool, parsers: _Parsers | None) -> None:
    if not store.is_current(conn):
        store.reset(conn)
    todo, removed, _ = _plan(conn, root, files)
    for rel in removed:
        row = conn.execute("SELECT id FROM files WHERE path=?", (rel,)).fetchone()
        _delete_file_rows(conn, row[0])
    with _progress(progress, len(todo)) as advance:
        if workers > 1 and len(todo) >= PARALLEL_THRESHOLD:
            stored = conn.execute("SELECT id FROM files WHERE path IN (SELECT value FROM "
                                  "json_each(?))", (json.dumps(todo),)).fetchall()
            for (file_id,) in stored:  # changed files: old rows go before the new ones arrive
                _delete_file_rows(conn, file_id)
            own = _Parsers(workers) if parsers is None else None  # incremental, many changes
            try:
                (parsers or own).run(conn, root, _jobs(root, todo), advance)
            finally:
                if own is not None:
                    own.close()
        else:
            next_id = [conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM symbols").fetchone()[0]]
            for res in run_batch(_jobs(root, todo)):
                write_result(conn, res, next_id)
                advance(1)
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

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import Progress
        # auto_refresh=False: no refresh thread, so forking the parser pool stays safe.
        self.bar = Progress(console=Console(stderr=True), transient=True, auto_refresh=False)
        self.bar.start()
        task = self.bar.add_task("indexing", total=self.total)

        def advance(n: int) -> None:
            self.bar.advance(task, n)
            self.bar.refresh()
        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
