"""Which checkout a named source (`ksanallm`, `vllm`, `core`) means for this command.

Resolution order: an explicit `NAME=PATH`, then the environment variable that sources.yaml names
for it (`CODEWALK_KSANALLM`, `CODEWALK_VLLM`), then — for `core` only — the built-in corpus.
"""

from __future__ import annotations

import os
from pathlib import Path

from codewalk.annotations import Source
from codewalk.corpus import Target, builtin


class SourceError(ValueError):
    """A --source argument that cannot be used; the message says what to pass instead."""


def parse_pairs(pairs: list[str] | None) -> dict[str, Path]:
    """`NAME=PATH` arguments as a dict; a malformed or missing path is a SourceError."""
    out: dict[str, Path] = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise SourceError(f"--source expects NAME=PATH, got {pair!r}")
        p = Path(path).expanduser().resolve()
        if not p.is_dir():
            raise SourceError(f"--source {name}: {p} is not a directory")
        out[name] = p
    return out


def resolve(name: str, source: Source | None, overrides: dict[str, Path]) -> Target | None:
    """The checkout for `name`, or None when none is known (the caller says it was skipped)."""
    subtrees = tuple(source.subtrees) if source else ()
    if name in overrides:
        return Target(overrides[name], subtrees)
    env = source.env if source and source.env else f"CODEWALK_{name.upper()}"
    if os.environ.get(env):
        return Target(Path(os.environ[env]).expanduser().resolve(), subtrees)
    if name == "core":
        return builtin()
    return None


def identify(root: Path, known: dict[str, Source], builtin_root: bool = False) -> str:
    """Which named source a checkout is: the built-in corpus, a configured checkout, or by layout."""
    if builtin_root:
        return "core"
    root = root.resolve()
    for name, source in known.items():
        env = source.env or f"CODEWALK_{name.upper()}"
        if os.environ.get(env) and Path(os.environ[env]).expanduser().resolve() == root:
            return name
    if (root / "src" / "ksana_llm").is_dir():
        return "ksanallm"
    if (root / "vllm" / "v1").is_dir():
        return "vllm"
    return ""


def target(name: str) -> Target | None:
    """The checkout a source name means outside `check`: sources.yaml's env variable, else None."""
    from codewalk.annotations import annotations_dir, load

    known = load(annotations_dir()).sources
    return resolve(name, known.get(name), {})
