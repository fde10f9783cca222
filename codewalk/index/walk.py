"""Which files to index: `git ls-files` in a work tree, else a walk with a small .gitignore matcher."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from codewalk.index import language_for

# Never descended outside git mode either: VCS metadata, caches, virtualenvs.
_ALWAYS_SKIP = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".tox"}


@dataclass(slots=True)
class Listing:
    """Source files (posix paths relative to root), watched directories and skip counts."""

    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def _excluded(rel: str, exclude: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, pat) or rel.startswith(pat.rstrip("/") + "/")
               for pat in exclude)


def _under(rel: str, include: tuple[str, ...]) -> bool:
    return not include or any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in include)


def list_files(root: Path, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Listing:
    """Sources under root (optionally only the `include` subtrees), honouring .gitignore."""
    listing = _git_listing(root)
    if listing is None:
        listing = _walk_listing(root, include)
    listing.files = sorted(f for f in listing.files
                           if language_for(f) and _under(f, include) and not _excluded(f, exclude)
                           and _utf8_name(f, listing))
    listing.dirs = [d for d in listing.dirs if _is_utf8(d)]
    keep_dirs = {""} | {str(Path(f).parent.as_posix()) for f in listing.files}
    for f in list(keep_dirs):
        parts = f.split("/")
        keep_dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    listing.dirs = sorted(d if d != "." else "" for d in keep_dirs | set(listing.dirs)
                          if _under(d, include) or d in ("", "."))
    return listing


def _is_utf8(rel: str) -> bool:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by surrogateescape
        return False
    return True


def _utf8_name(rel: str, listing: Listing) -> bool:
    """False (and counted as skipped, by name) for a path that is not valid UTF-8: the store
    keeps paths as text, and such a name cannot be printed or queried."""
    if _is_utf8(rel):
        return True
    shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
    listing.skipped[f"file name is not valid UTF-8 ({shown})"] += 1
    return False


def _git_listing(root: Path) -> Listing | None:
    """Tracked plus untracked-but-not-ignored files when root is inside a git work tree."""
    if not _inside_git(root):
        return None
    try:
        # Plain `git` (not GitPython: importing it costs ~0.1 s of every full index). Run in
        # root, ls-files lists only paths under root, relative to it.
        proc = subprocess.run(["git", "-c", "core.quotepath=off", "ls-files", "-z", "--cached",
                               "--others", "--exclude-standard"], cwd=root, capture_output=True)
    except OSError:  # git missing: fall back to walking
        return None
    if proc.returncode != 0:  # broken repo
        return None
    if not proc.stdout and _ignored_by_git(root):
        # root lies in a folder the enclosing repository ignores (an installed package under
        # a git-managed ~/.pyenv, say): git lists nothing there, so walk it instead.
        return None
    out = proc.stdout.decode("utf-8", "surrogateescape")
    prefix = ""
    listing = Listing()
    seen: set[str] = set()
    for name in out.split("\0"):
        if name and name.startswith(prefix) and name not in seen:
            seen.add(name)
            rel = name[len(prefix):]
            listing.files.append(rel)
            listing.dirs.append(Path(rel).parent.as_posix())
    return listing


def _ignored_by_git(root: Path) -> bool:
    try:
        proc = subprocess.run(["git", "check-ignore", "-q", "."], cwd=root, capture_output=True)
    except OSError:
        return False
    return proc.returncode == 0


def _inside_git(root: Path) -> bool:
    for parent in (root, *root.parents):
        if (parent / ".git").exists():
            return True
    return False


class _Ignore:
    """The common subset of .gitignore: globs, dir/ patterns, /anchored patterns, !negation."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, str, bool, bool]] = []  # (base, pattern, dir_only, negate)

    def load(self, base: str, path: Path) -> None:
        try:
            lines = path.read_text("utf-8", "replace").splitlines()
        except OSError:
            return
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line.lstrip("!")
            dir_only = line.endswith("/")
            self.rules.append((base, line.strip("/"), dir_only, negate))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for base, pat, dir_only, negate in self.rules:
            if dir_only and not is_dir or base and not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1:] if base else rel
            hit = fnmatch.fnmatch(sub, pat) if "/" in pat else fnmatch.fnmatch(sub.rsplit("/", 1)[-1], pat)
            if hit:
                result = not negate
        return result


def _walk_listing(root: Path, include: tuple[str, ...]) -> Listing:
    """os.walk without following directory symlinks, so symlink loops cannot recurse."""
    listing = Listing()
    ignore = _Ignore()
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: listing.skipped.update(["unreadable directory"])):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        if ".gitignore" in filenames:
            ignore.load(rel_dir, Path(dirpath) / ".gitignore")
        listing.dirs.append(rel_dir)
        keep = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d in _ALWAYS_SKIP or ignore.ignored(rel, True):
                continue
            if os.path.islink(os.path.join(dirpath, d)):
                listing.skipped["symlinked directory (not followed)"] += 1
                continue
            if include and not any(rel == p or rel.startswith(p + "/") or p.startswith(rel + "/")
                                   for p in include):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if language_for(f) and not ignore.ignored(rel, False):
                listing.files.append(rel)
    return listing
