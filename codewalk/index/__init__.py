"""Tree-sitter indexer: source files -> symbols, call sites, includes/imports.

Importing this package is cheap on purpose (no tree-sitter): the query path only needs
QUERY_VERSION to decide whether an index is still valid.
"""

from __future__ import annotations

# Part of every index's cache key: bump it whenever queries/*.scm or the extractors change
# what they record, so existing indexes are rebuilt instead of silently going stale.
QUERY_VERSION = "10"

CPP_SUFFIXES = (".cu", ".cuh", ".cc", ".cpp", ".cxx", ".h", ".hpp", ".hh")
PY_SUFFIXES = (".py",)


def language_for(path: str) -> str | None:
    """'cpp', 'python' or None for a path, by suffix."""
    lower = path.lower()
    if lower.endswith(PY_SUFFIXES):
        return "python"
    if lower.endswith(CPP_SUFFIXES):
        return "cpp"
    return None
