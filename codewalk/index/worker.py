"""What one parser process does with one file: read, sniff, decode, extract."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from codewalk.index.records import FileResult

DEFAULT_MAX_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class Job:
    """A file to parse; module/is_package only matter for Python."""

    root: str
    path: str
    language: str
    module: str = ""
    is_package: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES


def max_bytes() -> int:
    """Size limit per file ($CODEWALK_MAX_FILE_BYTES overrides the 8 MiB default)."""
    try:
        return int(os.environ.get("CODEWALK_MAX_FILE_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def digest(data: bytes) -> str:
    """Content hash that decides whether a file must be re-parsed."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read(path: Path, limit: int) -> tuple[bytes | None, int, int, str]:
    """(bytes or None, size, mtime_ns, warning). Never raises: problems become warnings."""
    try:
        st = path.stat()
        if st.st_size > limit:
            return None, st.st_size, st.st_mtime_ns, f"larger than {limit} bytes"
        with path.open("rb") as fh:
            # Read the stat size (+1 to notice growth), not limit+1: read(n) allocates n bytes
            # up front, and 8 MiB per file is most of the cost of reading small sources.
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:  # grew since the stat: read on, up to the limit
                data += fh.read(limit + 1 - len(data))
    except OSError as exc:  # unreadable, symlink loop (ELOOP), vanished meanwhile
        return None, 0, 0, f"unreadable ({exc.strerror or exc.__class__.__name__})"
    if len(data) > limit:
        return None, len(data), st.st_mtime_ns, f"larger than {limit} bytes"
    if b"\0" in data:
        return None, len(data), st.st_mtime_ns, "binary (NUL bytes)"
    return data, st.st_size, st.st_mtime_ns, ""


def run(job: Job) -> FileResult:
    """Extract one file; a parser bug in one file yields a warning, not a failed index."""
    data, size, mtime, warning = read(Path(job.root) / job.path, job.max_bytes)
    result = FileResult(job.path, job.language, size, mtime, digest(data) if data else "",
                        warning=warning)
    if data is None:
        return result
    # Invalid UTF-8 is replaced, then re-encoded, so node byte offsets match decodable text.
    source = data
    if not data.isascii():
        try:
            data.decode("utf-8")  # valid UTF-8 is its own round trip
        except UnicodeDecodeError:
            source = data.decode("utf-8", "replace").encode("utf-8")
    try:
        if job.language == "cpp":
            from codewalk.index import cpp
            cpp.extract(result, source)
        else:
            from codewalk.index import python
            python.extract(result, source, job.module, job.is_package)
    except Exception as exc:  # keep the file (stat and hash) but record why it has no symbols
        result.symbols, result.calls, result.imports = [], [], []
        result.warning = f"extractor failed: {exc.__class__.__name__}: {exc}"
    return result


Packed = tuple  # (path, language, size, mtime_ns, digest, parse_errors, warning, syms, calls, imports)


def pack(res: FileResult) -> Packed:
    """Flatten to plain tuples, already in the column order the store inserts.
    Calls and imports are tuples from the extractors; only symbols are dataclasses."""
    syms = [(s.name, s.qname, s.kind, s.line, s.end_line, int(s.is_def), s.scope, s.signature,
             s.params_key, s.comment, s.start_byte, s.end_byte, "\n".join(s.bases), s.type_text)
            for s in res.symbols]
    return (res.path, res.language, res.size, res.mtime_ns, res.digest, res.parse_errors,
            res.warning, syms, res.calls, res.imports)


def run_batch(jobs: list[Job]) -> list[Packed]:
    """Serial path: extract every job, in order."""
    return [pack(run(job)) for job in jobs]


def rows(res: Packed, file_id: int, base: int) -> tuple[tuple, list, list, list]:
    """(files row, symbol rows, call rows, import rows) of one result; symbol ids start at base.

    Shared by the serial writer (build.write_result) and the staging writer below, so both
    paths store exactly the same rows."""
    path, language, size, mtime, dig, errors, warning, syms, calls, imports = res
    if warning and not syms:
        language = "skipped"
    file_row = (file_id, path, language, size, mtime, dig, errors, warning)
    sym_rows = [(base + i, file_id, *s, language) for i, s in enumerate(syms)]
    call_rows = [(file_id, base + c[0], *c[1:]) for c in calls]
    import_rows = [(file_id, *i) for i in imports]
    return file_row, sym_rows, call_rows, import_rows


# Staging tables: same columns and order as the store's, no indexes (the store has them).
STAGING_SCHEMA = (
    "CREATE TABLE files(id INTEGER PRIMARY KEY, path, language, size, mtime_ns, digest, "
    "parse_errors, module)",
    "CREATE TABLE symbols(id INTEGER PRIMARY KEY, file_id, name, qname, kind, line, end_line, "
    "is_def, scope, signature, params_key, comment, start_byte, end_byte, bases, type_text, "
    "language)",
    "CREATE TABLE calls(file_id, caller_id, name, kind, line, receiver, qualifier, nargs)",
    "CREATE TABLE imports(file_id, target, alias, line)",
)


def serve(work, counter, queue, db: str) -> None:  # noqa: ANN001
    """Parser process: warm up, receive (chunks, bounds) from `work` (None: nothing to do),
    take chunk numbers from the shared counter until none are left and write every result
    into private staging databases `db`-0, `db`-1, ...

    A staging file is closed and reported as ('segment', path) once the chunk numbers pass the
    next of `bounds`, so the parent merges it while parsing goes on; the last is reported as
    ('done', path). Also ('files', n) after each chunk and ('error', text) on failure.
    Staging files are scratch space (journal and fsync off): the parent copies them into the
    store inside its own transaction, so a crash here can never touch the real index."""
    import gc
    import sqlite3
    import traceback
    # Short-lived process whose garbage is freed by reference counting (no cycles are built):
    # the cyclic collector would only rescan the growing row lists (~5% of the CPU time).
    gc.disable()
    try:
        from codewalk.index.parse import warm_up
        warm_up()
        parent = os.getppid()
        item = work.get()
        if item is None:
            return
        chunks, bounds = item
        segment = 0

        def open_segment() -> tuple[sqlite3.Connection, str]:
            path = f"{db}-{segment}"
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            for statement in STAGING_SCHEMA:
                conn.execute(statement)
            conn.execute("BEGIN")
            return conn, path

        conn, path = open_segment()
        file_id, next_sym, wrote = 1, 1, False
        n = len(chunks)
        pending = list(bounds)
        while True:
            with counter.get_lock():
                i = counter.value
                counter.value = i + 1
            if i >= n:
                break
            if os.getppid() != parent:  # the indexer was killed: its transaction is gone too
                return
            if pending and i >= pending[0] and wrote:
                while pending and i >= pending[0]:
                    pending.pop(0)
                conn.execute("COMMIT")
                conn.close()
                queue.put(("segment", path))
                segment += 1
                conn, path = open_segment()
                wrote = False
            files, syms, calls, imports = [], [], [], []
            for job in chunks[i]:
                f, s, c, m = rows(pack(run(job)), file_id, next_sym)
                file_id += 1
                next_sym += len(s)
                files.append(f)
                syms += s
                calls += c
                imports += m
            conn.executemany("INSERT INTO files VALUES(?,?,?,?,?,?,?,?)", files)
            conn.executemany("INSERT INTO symbols VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", syms)
            conn.executemany("INSERT INTO calls VALUES(?,?,?,?,?,?,?,?)", calls)
            conn.executemany("INSERT INTO imports VALUES(?,?,?,?)", imports)
            wrote = True
            queue.put(("files", len(files)))
        conn.execute("COMMIT")
        conn.close()
        queue.put(("done", path))
    except KeyboardInterrupt:  # the parent was interrupted too and cleans up
        pass
    except BaseException:
        queue.put(("error", traceback.format_exc()))
