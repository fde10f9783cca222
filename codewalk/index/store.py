"""SQLite index store: one database per repository root under $CODEWALK_HOME.

Every index run writes inside one transaction (BEGIN IMMEDIATE ... COMMIT), so an exception,
Ctrl-C or a killed process leaves the previous committed index untouched: SQLite's journal
rolls the half-written pages back. Queries only read; they never parse source.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from codewalk.index import QUERY_VERSION

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, language TEXT,
    size INTEGER, mtime_ns INTEGER, digest TEXT, parse_errors INTEGER, module TEXT);
CREATE TABLE dirs(path TEXT PRIMARY KEY, mtime_ns INTEGER);
CREATE TABLE symbols(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, name TEXT, qname TEXT,
    kind TEXT, line INTEGER, end_line INTEGER, is_def INTEGER, scope TEXT, signature TEXT,
    params_key TEXT, comment TEXT, start_byte INTEGER, end_byte INTEGER, bases TEXT,
    type_text TEXT, language TEXT);
CREATE INDEX symbols_name ON symbols(name);
CREATE INDEX symbols_qname ON symbols(qname);
CREATE INDEX symbols_file ON symbols(file_id);
CREATE TABLE calls(file_id INTEGER NOT NULL, caller_id INTEGER, name TEXT, kind TEXT,
    line INTEGER, receiver TEXT, qualifier TEXT, nargs INTEGER);
CREATE INDEX calls_name ON calls(name);
CREATE INDEX calls_caller ON calls(caller_id);
CREATE INDEX calls_file ON calls(file_id);
CREATE TABLE imports(file_id INTEGER NOT NULL, target TEXT, alias TEXT, line INTEGER);
CREATE INDEX imports_file ON imports(file_id);
CREATE INDEX imports_target ON imports(target);
"""
_TABLES = ("meta", "files", "dirs", "symbols", "calls", "imports")


def home() -> Path:
    """$CODEWALK_HOME, default ~/.cache/codewalk."""
    env = os.environ.get("CODEWALK_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "codewalk"


def db_path(root: Path, include: tuple[str, ...] = ()) -> Path:
    """Database file for a resolved root (and subtree selection): a hash keeps names unique."""
    key = str(root.resolve()) + ("\0" + "\0".join(include) if include else "")
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return home() / "index" / f"{root.resolve().name or 'root'}-{digest}.sqlite"


def cache_key() -> str:
    """Changes whenever stored rows would be produced differently."""
    return f"schema={SCHEMA_VERSION};queries={QUERY_VERSION}"


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open a database; autocommit mode so transactions are explicit (see module doc)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    return conn


def is_current(conn: sqlite3.Connection) -> bool:
    """True when the database has our schema and query version."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='cache_key'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] == cache_key()


def reset(conn: sqlite3.Connection) -> None:
    """Drop and recreate every table (inside the caller's transaction, so it is atomic too)."""
    for table in _TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in _SCHEMA.strip().split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES('cache_key', ?)", (cache_key(),))


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))


def get_meta(conn: sqlite3.Connection, key: str, default: str = "") -> str:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row is not None else default


def stat_key(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) or None when the path is gone or unreadable."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def is_fresh(conn: sqlite3.Connection, root: Path) -> bool:
    """Cheap staleness test: every indexed file and watched directory has its stored stat.

    New files show up as a changed directory mtime, edits and deletions as a changed file stat,
    so no hashing and no tree-sitter import is needed while nothing moved.
    """
    if not is_current(conn):
        return False
    for path, size, mtime in conn.execute("SELECT path, size, mtime_ns FROM files"):
        if stat_key(root / path) != (size, mtime):
            return False
    for path, mtime in conn.execute("SELECT path, mtime_ns FROM dirs"):
        key = stat_key(root / path if path else root)
        if key is None or key[1] != mtime:
            return False
    return True
