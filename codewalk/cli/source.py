"""`codewalk source add|list|remove|update`: the named sources every command can read."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `source` group."""
    p = sub.add_parser("source", help="add, list, update or remove named sources (KsanaLLM, vLLM, your own)",
                       description="Named sources: code codewalk reads by name (`--source NAME`).")
    group = p.add_subparsers(dest="source_command", metavar="ACTION")
    group.required = True

    a = group.add_parser("add", help="register a folder, clone a git repository or unpack a pip package",
                         description="`add NAME PATH` registers a folder you have; `--git URL` clones "
                                     "(one commit deep unless --history); `--pip SPEC` downloads a "
                                     "wheel/sdist (or takes a local one) and keeps only its .py files. "
                                     "`add ksanallm` and `add vllm` alone use the pinned defaults of "
                                     "annotations/sources.yaml.")
    a.add_argument("name")
    a.add_argument("path", nargs="?", default=None, help="an existing folder (git work tree or plain)")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--git", default=None, metavar="URL", help="clone this repository")
    how.add_argument("--pip", default=None, metavar="SPEC", help="pip spec (vllm==0.33.0) or a wheel/sdist file")
    a.add_argument("--rev", default=None, help="branch, tag or commit (--git); version (--pip)")
    a.add_argument("--history", action="store_true", help="--git: fetch the full history (for `history`)")
    a.add_argument("--no-index", action="store_true", help="do not index now (first query will)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_add)

    ls = group.add_parser("list", help="registered sources: kind, location, revision, index, notes")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    r = group.add_parser("remove", help="forget a source (deletes only what codewalk downloaded)")
    r.add_argument("name")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_remove)

    u = group.add_parser("update", help="fetch / check out REV or download again, then re-index")
    u.add_argument("name")
    u.add_argument("--rev", default=None, help="branch, tag or commit (git); version (pip)")
    u.add_argument("--no-index", action="store_true")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=_update)


def _fail(message: str, status: int = 1) -> int:
    from codewalk.cli.common import CommandError

    raise CommandError(message, status)


def _say(args: argparse.Namespace):
    if args.json:
        return lambda _msg: None
    return lambda msg: print(msg, file=sys.stderr)


def _interactive(args: argparse.Namespace) -> bool:
    return not args.json and sys.stderr.isatty()


def _index(entry: Any, args: argparse.Namespace) -> dict | None:
    """Index (incrementally) after add/update; a failure is a warning, the source stays."""
    if args.no_index:
        return None
    from codewalk.sources.fetch import reindex

    try:
        stats = reindex(entry, progress=_interactive(args))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"codewalk: warning: indexing {entry.name} failed ({exc}); "
              f"the first query will try again", file=sys.stderr)
        return None
    return {"files": stats.files, "parsed": stats.parsed, "symbols": stats.symbols, "seconds": stats.seconds}


def _short(revision: str) -> str:
    return revision[:12] if len(revision) == 40 else revision


def _fetch_and_index(args: argparse.Namespace, get) -> tuple | int:
    """Run fetch.add/update, then index; an exit status when it failed or --json already reported it."""
    from codewalk.sources.checkouts import SourceError

    try:
        entry = get()
    except SourceError as exc:
        return _fail(str(exc))
    indexed = _index(entry, args)
    if args.json:
        print(json.dumps({"source": entry.to_dict(), "index": indexed}, indent=2))
        return 0
    rev = f" at {_short(entry.revision)}" if entry.revision else ""
    return entry, indexed, rev


def _add(args: argparse.Namespace) -> int:
    from codewalk.sources import fetch

    done = _fetch_and_index(args, lambda: fetch.add(
        args.name, path=args.path, git_url=args.git, rev=args.rev, history=args.history, pip_spec=args.pip,
        progress=_interactive(args), say=_say(args)))
    if isinstance(done, int):
        return done
    entry, indexed, rev = done
    print(f"added {entry.name}: {entry.kind}{rev}, {entry.location}")
    if indexed:
        print(f"indexed {indexed['files']} file(s), {indexed['symbols']} symbols")
    print(f"next: codewalk show SYMBOL --source {entry.name}   (or: codewalk search TEXT --source {entry.name})")
    return 0


def rows() -> list[dict]:
    """What `source list` reports: registered sources, the built-in core, and known sources
    (sources.yaml) not added yet."""
    from codewalk.sources import registry, checkouts as sources
    from codewalk.index import store
    from codewalk.notes.schema import annotations_dir, load
    from codewalk.sources.corpus import builtin

    notes = load(annotations_dir())
    counts: dict[str, int] = {}
    for n in notes.notes:
        counts[n.source] = counts.get(n.source, 0) + 1
    out: list[dict] = []

    def indexed(root, name: str) -> bool:
        return store.db_path(root, sources.subtrees_of(name) if name != "core" else builtin().include).exists()

    for name, e in sorted(registry.load().items()):
        what = name if name in notes.sources else sources.identity(e, notes.sources) or name
        known = notes.sources.get(what)
        row = {"name": name, "kind": e.kind, "location": e.location, "origin": e.origin,
               "revision": e.revision, "pinned": known.revision if known else "",
               "registered": True, "owned": e.owned, "exists": e.path.is_dir(),
               "indexed": e.path.is_dir() and indexed(e.path, what), "notes": counts.get(what, 0)}
        if what != name:
            row["is"] = what  # notes attach to what the checkout is, not to the name it was given
        out.append(row)
    try:
        core = builtin()
        out.append({"name": "core", "kind": "builtin", "location": str(core.root), "origin": "",
                    "revision": "package", "pinned": "package", "registered": False, "owned": False,
                    "exists": True, "indexed": indexed(core.root, "core"), "notes": counts.get("core", 0)})
    except FileNotFoundError:
        pass
    have = {r["name"] for r in out} | {r["is"] for r in out if "is" in r}
    for name, known in sorted(notes.sources.items()):
        if name in have:
            continue
        target = sources.resolve(name, known, {})
        out.append({"name": name, "kind": "env" if target else "not added",
                    "location": str(target.root) if target else "", "origin": known.upstream,
                    "revision": "", "pinned": known.revision, "registered": False, "owned": False,
                    "exists": bool(target and target.root.is_dir()),
                    "indexed": bool(target and indexed(target.root, name)), "notes": counts.get(name, 0)})
    return out


def _list(args: argparse.Namespace) -> int:
    try:
        data = rows()
    except ValueError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"sources": data}, indent=2))
        return 0
    from codewalk.views.term import console as make_console
    from codewalk.views.term import escape, table

    cells, hints = [], []
    for r in data:
        rev = escape(_short(r["revision"]))
        if r["pinned"] and r["revision"] and r["pinned"] not in (r["revision"], "package"):
            rev += f" [yellow](notes: {escape(_short(r['pinned']))})[/]"
        location = escape(r["location"])
        if r["location"] and not r["exists"]:
            location = f"[red]{location} (gone)[/]"
        if r["kind"] == "not added":
            location = f"[dim]{escape(r['origin'])}[/]"
            hints.append(f"codewalk source add {r['name']}")
        cells.append([escape(r["name"]), escape(r["kind"]), location, rev, "yes" if r["indexed"] else "no",
                     str(r["notes"])])
    console = make_console()
    table(console, ["name", "kind", "location", "revision", "indexed", "notes"], cells, box=None, pad_edge=False)
    if hints:
        console.print("[dim]not added yet: " + escape(" ; ".join(hints)) + "[/]")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from codewalk.sources import fetch
    from codewalk.sources.checkouts import SourceError

    try:
        entry, deleted = fetch.remove(args.name)
    except (SourceError, RuntimeError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"removed": entry.name, "deleted": entry.location if deleted else None}))
    elif deleted:
        print(f"removed {entry.name} and deleted the code codewalk downloaded ({entry.location})")
    else:
        print(f"removed {entry.name}; your folder {entry.location} is untouched")
    return 0


def _update(args: argparse.Namespace) -> int:
    from codewalk.sources import fetch

    done = _fetch_and_index(args, lambda: fetch.update(args.name, rev=args.rev, progress=_interactive(args),
                                                       say=_say(args)))
    if isinstance(done, int):
        return done
    entry, indexed, rev = done
    print(f"updated {entry.name}: {entry.kind}{rev}")
    if indexed:
        print(f"re-indexed: {indexed['parsed']} file(s) parsed of {indexed['files']}")
    return 0
