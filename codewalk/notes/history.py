"""Symbol history with GitPython: the commits that changed one symbol's definition.

A symbol is re-located by its qualified name in every version of its file (with the same
tree-sitter extractors as the index), so it is followed when it moves within the file, and a
commit counts only if the symbol's own text changed (comments and whitespace ignored).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codewalk.notes import fingerprint as fp


class HistoryError(RuntimeError):
    """Not a git work tree, unknown revision, or a file git does not know."""


@dataclass(slots=True)
class Change:
    """One commit that changed the symbol."""

    commit: str
    date: str
    author: str
    subject: str
    added: int
    removed: int
    what: str  # changed | added | removed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _repo(root: Path) -> Any:
    import git

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise HistoryError(f"{root} is not a git work tree") from exc


def _module_for(path: str) -> tuple[str, bool]:
    """Python module name of a repository path (vllm/v1/core/x.py -> vllm.v1.core.x)."""
    stem = path[:-3] if path.endswith(".py") else path
    parts = stem.split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def symbol_text(data: bytes, path: str, qname: str, module: str | None = None) -> str | None:
    """The definition text of qname in this version of the file (declaration if no body)."""
    return symbol_texts(data, path, (qname,), module)[qname]


def symbol_texts(data: bytes, path: str, qnames: tuple[str, ...] | frozenset[str],
                 module: str | None = None) -> dict[str, str | None]:
    """symbol_text for several qualified names, the file parsed once."""
    from codewalk.index.records import FileResult

    source = data.decode("utf-8", "replace").encode("utf-8")
    language = "python" if path.endswith(".py") else "cpp"
    result = FileResult(path, language, len(data), 0, "")
    if language == "cpp":
        from codewalk.index import cpp

        cpp.extract(result, source)
    else:
        from codewalk.index import python

        mod, is_package = _module_for(path) if module is None else (module, path.endswith("__init__.py"))
        python.extract(result, source, mod, is_package)
    out: dict[str, str | None] = {}
    for qname in qnames:
        rows = sorted((s for s in result.symbols if s.qname == qname), key=lambda s: (not s.is_def, s.line))
        out[qname] = source[rows[0].start_byte:rows[0].end_byte].decode("utf-8", "replace") if rows else None
    return out


def _blob(commit: Any, path: str) -> bytes | None:
    try:
        return (commit.tree / path).data_stream.read()
    except KeyError:
        return None


def _same(a: str | None, b: str | None, language: str) -> bool:
    if a is None or b is None:
        return a is b
    return fp.normalize(a.encode(), language) == fp.normalize(b.encode(), language)


def _counts(old: str | None, new: str | None) -> tuple[int, int]:
    added = removed = 0
    for line in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def _change(commit: Any, old: str | None, new: str | None) -> Change:
    added, removed = _counts(old, new)
    what = "added" if old is None else "removed" if new is None else "changed"
    return Change(commit.hexsha[:10], commit.committed_datetime.date().isoformat(), str(commit.author.name),
                  commit.summary, added, removed, what)


def symbol_history(root: Path, path: str, qname: str, max_count: int = 20, rev: str = "HEAD",
                   module: str | None = None, reverse: bool = False) -> list[Change]:
    """Commits (newest first unless reverse) in `rev` that changed qname's definition in path."""
    repo = _repo(root)
    language = "python" if path.endswith(".py") else "cpp"
    changes: list[Change] = []
    try:
        commits = list(repo.iter_commits(rev, paths=path, reverse=reverse))
    except Exception as exc:  # GitCommandError for an unknown revision
        raise HistoryError(f"cannot read history of {path} at {rev}: {exc}".splitlines()[0]) from exc
    for commit in commits:
        new_data = _blob(commit, path)
        new = symbol_text(new_data, path, qname, module) if new_data is not None else None
        parent = commit.parents[0] if commit.parents else None
        old_data = _blob(parent, path) if parent is not None else None
        old = symbol_text(old_data, path, qname, module) if old_data is not None else None
        if not _same(old, new, language):
            changes.append(_change(commit, old, new))
            if len(changes) >= max_count:
                break
    return changes


def file_history(root: Path, path: str, qnames: list[str], max_count: int = 5,
                 rev: str = "HEAD") -> dict[str, list[Change]]:
    """symbol_history for several symbols of one file in one walk (newest first): each version
    of the file is read and parsed once, however many symbols are followed."""
    repo = _repo(root)
    language = "python" if path.endswith(".py") else "cpp"
    out: dict[str, list[Change]] = {q: [] for q in qnames}
    try:
        commits = repo.iter_commits(rev, paths=path)
        texts: dict[str, dict[str, str | None]] = {}  # blob sha -> symbol texts

        def version(commit: Any) -> dict[str, str | None]:
            try:
                blob = commit.tree / path
            except KeyError:
                return dict.fromkeys(qnames)
            if blob.hexsha not in texts:
                texts[blob.hexsha] = symbol_texts(blob.data_stream.read(), path, tuple(qnames))
            return texts[blob.hexsha]

        for commit in commits:
            open_q = [q for q in qnames if len(out[q]) < max_count]
            if not open_q:
                break
            new = version(commit)
            old = version(commit.parents[0]) if commit.parents else dict.fromkeys(qnames)
            for q in open_q:
                if not _same(old[q], new[q], language):
                    out[q].append(_change(commit, old[q], new[q]))
    except Exception as exc:  # GitCommandError for an unknown revision or path
        raise HistoryError(f"cannot read history of {path} at {rev}: {exc}".splitlines()[0]) from exc
    return out


def diff_against(root: Path, rev: str, path: str, qname: str, current: str, module: str | None = None) -> str:
    """'+a -b lines since REV' for the symbol's text now versus at the pinned revision."""
    repo = _repo(root)
    try:
        commit = repo.commit(rev)
    except Exception as exc:
        raise HistoryError(f"revision {rev} is not in this checkout") from exc
    data = _blob(commit, path)
    old = symbol_text(data, path, qname, module) if data is not None else None
    if old is None:
        return f"not in {path} at {rev[:10]}"
    added, removed = _counts(old, current)
    return f"+{added} -{removed} lines since {rev[:10]}"


def first_change_since(root: Path, rev: str, path: str, qname: str, module: str | None = None) -> str:
    """'sha date subject' of the oldest commit after rev that changed the symbol ('' if none)."""
    try:
        changes = symbol_history(root, path, qname, max_count=1, rev=f"{rev}..HEAD", module=module, reverse=True)
    except HistoryError:
        return ""
    if not changes:
        return ""
    c = changes[0]
    return f"{c.commit} {c.date} {c.subject}"
