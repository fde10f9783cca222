"""Which checkout a named source (`ksanallm`, `vllm`, `core`, or one you added) means.

Resolution order: an explicit `NAME=PATH` (`check --source`), then the source registry
(`codewalk source add`, `codewalk/sources/registry.py`), then the environment variable that sources.yaml
names for it (`CODEWALK_KSANALLM`, `CODEWALK_VLLM`; `CODEWALK_<NAME>` otherwise), then — for
`core` only — the built-in corpus.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codewalk.notes.schema import Source
from codewalk.sources.corpus import Target, builtin
from codewalk.sources.registry import SourceError

__all__ = ["SourceError", "identify", "identity", "known_sources", "parse_pairs", "resolve", "subtrees_of", "target"]


def parse_pairs(pairs: list[str] | None) -> dict[str, Path]:
    """`NAME=PATH` or registered `NAME` arguments as a dict; anything unusable is a SourceError."""
    from codewalk.sources import registry

    out: dict[str, Path] = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep:
            entry = registry.get(pair) if pair else None
            if entry is None:
                raise SourceError(f"--source {pair!r} is not a registered source: pass NAME=PATH, or "
                                  f"`codewalk source add {pair or 'NAME'} ...` first")
            p = entry.path
        elif not name or not path:
            raise SourceError(f"--source expects NAME or NAME=PATH, got {pair!r}")
        else:
            p = Path(path).expanduser().resolve()
        if not p.is_dir():
            raise SourceError(f"--source {name}: {p} is not a directory")
        out[name] = p
    return out


def _registered(name: str) -> Path | None:
    """The registry's folder for name, if it is registered and the folder still exists; else the
    folder of a source registered under another name that is the same code (see `identity`)."""
    from codewalk.sources import registry

    entry = registry.get(name)
    if entry is not None and entry.path.is_dir():
        return entry.path
    try:
        entries = registry.load()
    except ValueError:
        return None
    known = known_sources()
    for other in sorted(entries.values(), key=lambda e: e.name):
        if other.path.is_dir() and identity(other, known) == name:
            return other.path
    return None


def _norm_url(url: str) -> str:
    """`github.com/tencent/ksanallm` for https, ssh and scp-style URLs, with or without `.git`."""
    url = url.strip().lower().rstrip("/")
    url = url[:-4] if url.endswith(".git") else url
    for prefix in ("https://", "http://", "ssh://", "git://", "git+https://"):
        if url.startswith(prefix):
            url = url[len(prefix):]
    url = url.split("@", 1)[-1]  # user@host
    return url.replace(":", "/", 1) if ":" in url.split("/", 1)[0] else url


def _project(spec: str) -> str:
    """The normalised project name of a pip spec (`vllm==0.33.0` -> `vllm`)."""
    import re

    return re.split(r"[=<>!~;\[ @]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _remote_url(root: Path) -> str:
    """`remote.origin.url` of a git checkout, read from its config file ('' if none)."""
    import configparser

    config = root / ".git" / "config"
    if not config.is_file():
        return ""
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(config, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return ""
    return parser.get('remote "origin"', "url", fallback="")


def identity(entry: Any, known: dict[str, Source]) -> str:
    """Which source of sources.yaml a registered checkout is, whatever name it was added under:
    same git remote URL, same pip project, or the layout the notes' code lives in; '' if none."""
    for name, source in known.items():
        if source.kind == "git" and source.upstream:
            urls = [entry.origin] if entry.kind == "git" else [_remote_url(entry.path)]
            if any(u and _norm_url(u) == _norm_url(source.upstream) for u in urls):
                return name
        if source.kind == "pip" and source.upstream and entry.kind == "pip":
            project = (entry.extra or {}).get("project") or _project(entry.origin)
            if project and project.lower().replace("_", "-") == _project(source.upstream):
                return name
    return _by_layout(entry.path)


def _by_layout(root: Path) -> str:
    if (root / "src" / "ksana_llm").is_dir():
        return "ksanallm"
    if (root / "vllm" / "v1").is_dir():
        return "vllm"
    return ""


def resolve(name: str, source: Source | None, overrides: dict[str, Path]) -> Target | None:
    """The checkout for `name`, or None when none is known (the caller says it was skipped)."""
    subtrees = tuple(source.subtrees) if source else ()
    if name in overrides:
        return Target(overrides[name], subtrees)
    registered = _registered(name) if name != "core" else None
    if registered is not None:
        return Target(registered, subtrees)
    env = source.env if source and source.env else f"CODEWALK_{name.upper()}"
    if os.environ.get(env):
        return Target(Path(os.environ[env]).expanduser().resolve(), subtrees)
    if name == "core":
        return builtin()
    return None


def identify(root: Path, known: dict[str, Source], builtin_root: bool = False) -> str:
    """Which named source a checkout is: the built-in corpus, a registered or configured
    checkout, or one recognised by its layout."""
    from codewalk.sources import registry

    if builtin_root:
        return "core"
    root = root.resolve()
    try:
        entries = registry.load()
    except ValueError:
        entries = {}
    same = [n for n, e in entries.items() if e.path.resolve() == root]
    for name in same:  # a registered name the notes know wins
        if name in known:
            return name
    for name in same:  # else what the registered checkout is (its remote, package, layout)
        found = identity(entries[name], known)
        if found:
            return found
    for name, source in known.items():
        env = source.env or f"CODEWALK_{name.upper()}"
        if os.environ.get(env) and Path(os.environ[env]).expanduser().resolve() == root:
            return name
    return _by_layout(root) or (same[0] if same else "")


def known_sources() -> dict[str, Source]:
    """sources.yaml of codewalk's own annotations."""
    from codewalk.notes.schema import annotations_dir, load

    return load(annotations_dir()).sources


def subtrees_of(name: str) -> tuple[str, ...]:
    """The subtrees sources.yaml indexes for a source (empty: all of it)."""
    source = known_sources().get(name)
    return tuple(source.subtrees) if source else ()


def target(name: str) -> Target | None:
    """The checkout a source name means outside `check`: registry, env variable, else None.

    A registered source whose folder has gone is a SourceError saying how to fix it.
    """
    from codewalk.sources import registry

    entry = registry.get(name) if name != "core" else None
    if entry is not None and not entry.path.is_dir():
        raise SourceError(f"source '{name}' is registered at {entry.location}, but that folder is gone: "
                          f"`codewalk source remove {name}` and add it again")
    known = known_sources()
    return resolve(name, known.get(name), {})
