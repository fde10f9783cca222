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
            data = fh.read(limit + 1)
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
    """Flatten to plain tuples: they pickle several times faster than slotted dataclasses,
    and the rows are already in the column order the store inserts."""
    syms = [(s.name, s.qname, s.kind, s.line, s.end_line, int(s.is_def), s.scope, s.signature,
             s.params_key, s.comment, s.start_byte, s.end_byte, "\n".join(s.bases), s.type_text)
            for s in res.symbols]
    calls = [(c.caller, c.name, c.kind, c.line, c.receiver, c.qualifier, c.nargs) for c in res.calls]
    imports = [(i.target, i.alias, i.line) for i in res.imports]
    return (res.path, res.language, res.size, res.mtime_ns, res.digest, res.parse_errors,
            res.warning, syms, calls, imports)


def run_batch(jobs: list[Job]) -> list[Packed]:
    """Several files per task: one pickle round-trip per batch keeps IPC overhead small."""
    return [pack(run(job)) for job in jobs]
