"""The built-in corpus (the project's own `bindings/` C++ and `codewalk/core/` Python) and
choosing which repository a query command reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CORPUS_SUBTREES = ("bindings", "codewalk/core")


@dataclass(slots=True)
class Target:
    """A root to index/query and the subtrees of it that count (empty: all of it)."""

    root: Path
    include: tuple[str, ...] = ()
    builtin: bool = False


def _package_dir() -> Path:
    # codewalk/sources/corpus.py -> codewalk/; no import of codewalk.core or the compiled extension.
    return Path(__file__).resolve().parent.parent


def corpus_root(package_dir: Path | None = None) -> Path | None:
    """`<package>/_corpus` when installed, else the source checkout containing the package."""
    pkg = package_dir or _package_dir()
    candidates = (pkg / "_corpus", pkg.parent)
    for root in candidates:
        if any((root / sub).is_dir() for sub in CORPUS_SUBTREES):
            return root
    return None


def choose(repo: str | None) -> Target:
    """--repo, else $CODEWALK_REPO, else the built-in corpus."""
    chosen = repo or os.environ.get("CODEWALK_REPO")
    if chosen:
        return Target(Path(chosen).expanduser().resolve())
    return builtin()


def builtin() -> Target:
    """The built-in corpus: our own `bindings/` and `codewalk/core/`."""
    root = corpus_root()
    if root is None:
        raise FileNotFoundError("no --repo, no $CODEWALK_REPO and no built-in corpus found")
    return Target(root, CORPUS_SUBTREES, builtin=True)
