"""The site's one door into the rest of codewalk.

Every import of a codewalk module outside `codewalk.site` (and `codewalk.cli.common`) lives here,
so moving those modules means repointing this file only. The names below are what the site
uses; nothing else in `codewalk/site/` imports codewalk internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codewalk.notes.schema import Note, Notes, annotations_dir, load as load_notes  # noqa: F401
from codewalk.notes.check import mark_drift  # noqa: F401
from codewalk.sources.corpus import Target, builtin  # noqa: F401
from codewalk.query.lookup import CALLABLE_KINDS, Entity, Index, group_entities, peripheral  # noqa: F401
from codewalk.query.lookup import rank as rank_entities  # noqa: F401
from codewalk.query.resolve import Edge, Resolver  # noqa: F401
from codewalk.notes.bilingual import default_lang  # noqa: F401
from codewalk.query.answer import counterparts, show_doc  # noqa: F401


def open_index(target: Target, progress: bool = False) -> Index:
    """A read-only Index over target's store, indexing incrementally first when it is stale."""
    from codewalk.query.session import open_index as _open

    return _open(target, progress=progress)


def db_file(target: Target) -> Path:
    """The SQLite file of target's index (a forked worker opens its own connection to it)."""
    from codewalk.index import store

    return store.db_path(target.root, target.include)


def reopen(target: Target) -> Index:
    """A fresh read-only Index on an already fresh store (for a worker process)."""
    from codewalk.index import store

    return Index(store.connect(db_file(target), readonly=True), target.root)


def registered_sources() -> dict[str, Target]:
    """Every registered source whose folder exists, with the subtrees its notes index."""
    from codewalk.sources import registry
    from codewalk.sources.checkouts import identity, known_sources, subtrees_of

    out: dict[str, Target] = {}
    known = known_sources()
    for name, entry in sorted(registry.load().items()):
        if entry.path.is_dir():
            what = name if name in known else identity(entry, known) or name
            out[name] = Target(entry.path, subtrees_of(what))
    return out


def source_target(name: str, path: Path | None) -> Target:
    """`NAME=PATH` (a checkout) or a registered / configured `NAME`; ValueError when unknown."""
    from codewalk.cli.common import missing_source_message
    from codewalk.sources.checkouts import known_sources, subtrees_of, target

    if name == "core" and path is None:
        return builtin()
    if path is not None:
        if not path.is_dir():
            raise ValueError(f"--source {name}: {path} is not a directory")
        return Target(path, subtrees_of(name) if name in known_sources() else ())
    found = target(name)
    if found is None:
        raise ValueError(missing_source_message(name))
    return found


def identify(root: Path, is_builtin: bool) -> str:
    """Which named source (notes' name) a checkout is ('' when none)."""
    from codewalk.sources.checkouts import identify as _identify, known_sources

    return _identify(root, known_sources(), builtin_root=is_builtin)


def load_guides(notes: Notes) -> list[Any]:
    """Guides in reading order (errors are left to `codewalk guide`)."""
    from codewalk.guides.schema import guides_dir, load_guides as _load

    return _load(guides_dir(annotations_dir()), notes).ordered()


def render_guide(guide: Any, notes: Notes, overrides: dict[str, Path], lang: str) -> tuple[str, Any]:
    """(today's HTML export of a guide, its resolved steps) with excerpts from `overrides` only
    (the sources in the site; a KsanaLLM step without one falls back to the core's mirror)."""
    from codewalk.guides.export.html import render
    from codewalk.guides.resolve import resolve_guide

    resolved = resolve_guide(guide, notes, overrides, only=True)
    return render(resolved, lang), resolved


def symbol_histories(root: Path, wanted: dict[str, list[str]], max_count: int = 5) -> dict[tuple[str, str], list[dict]]:
    """Commits that changed each symbol (newest first), for `wanted` = path -> qualified names;
    {} when the checkout has no git history.

    Each file's history is walked once for all its symbols (`notes.history.file_history`), and
    results are kept in `$CODEWALK_HOME/site/history.json` under the checkout's HEAD commit, so a
    later build of the same commit pays nothing.
    """
    import json
    import os

    from codewalk.index.store import home
    from codewalk.notes import history

    if not (root / ".git").exists():
        return {}
    try:
        import git

        head = git.Repo(root).head.commit.hexsha
    except Exception:  # noqa: BLE001 - an unborn HEAD, a broken repo: no history, not a failure
        return {}
    cache_file = home() / "site" / "history.json"
    try:
        cache = json.loads(cache_file.read_text("utf-8"))
        cache = cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        cache = {}
    out: dict[tuple[str, str], list[dict]] = {}
    dirty = False
    for path, qnames in sorted(wanted.items()):
        keys = {q: f"{head}:{max_count}:{path}:{q}" for q in qnames}
        missing = [q for q in qnames if not isinstance(cache.get(keys[q]), list)]
        if missing:
            try:
                found = history.file_history(root, path, missing, max_count=max_count)
            except (history.HistoryError, OSError, ValueError):
                found = {q: [] for q in missing}
            for q, changes in found.items():
                cache[keys[q]] = [c.to_dict() for c in changes]
            dirty = True
        out.update({(path, q): cache[keys[q]] for q in qnames})
    if dirty:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".history.json.{os.getpid()}")
        tmp.write_text(json.dumps(cache), "utf-8")
        os.replace(tmp, cache_file)
    return out
