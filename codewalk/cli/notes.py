"""Note subcommands: `check` (drift), `annotate` (a YAML stub), `history` (commits of a symbol)."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from codewalk.cli.common import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    """Add check, annotate and history."""
    p = sub.add_parser("check", help="check every note against its source's code: ok, drifted or missing")
    p.add_argument("--source", action="append", metavar="NAME[=PATH]",
                   help="checkout of a source: a registered NAME or NAME=PATH; repeatable "
                        "(registered sources are used without it)")
    p.add_argument("--annotations", default=None, help="annotations folder (default: codewalk's own)")
    p.add_argument("--strict", action="store_true",
                   help="drifted notes fail too, and notes whose en or zh text is missing or defers to the other")
    p.add_argument("--refresh", nargs="*", metavar="ID", default=None,
                   help="rewrite the fingerprints of these notes (after re-reading them)")
    p.add_argument("--all", action="store_true", help="with --refresh: every drifted note")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_check)

    from codewalk.cli.common import add_target_args

    p = sub.add_parser("annotate", help="print a YAML stub for a new note on SYMBOL")
    p.add_argument("symbol")
    add_target_args(p, json_flag=False)  # --source: the note's source (and its checkout); --repo: other checkout
    p.set_defaults(func=_annotate)

    p = sub.add_parser("history", help="commits that changed a symbol's definition")
    p.add_argument("symbol")
    add_target_args(p)  # a git checkout: --repo PATH or a registered --source (added with --history)
    p.add_argument("--max", type=int, default=20)
    p.set_defaults(func=_history)


def _fail(message: str, status: int = 2) -> int:
    raise CommandError(message, status)


def _load_notes(folder: str | None, checkout: Path | None = None) -> Any:
    from codewalk.notes.schema import annotations_dir, load

    if folder:
        directory = Path(folder)
        if not directory.is_dir():
            raise CommandError(f"--annotations {folder}: not a folder")
    else:
        directory = checkout / "annotations" if checkout else annotations_dir()
    return load(directory), directory


def _indexes(notes: Any, pairs: list[str] | None, checkout: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """An index per source that has a checkout; notices for those skipped. Inside a codewalk
    checkout, `core` is that checkout's own corpus (the code its notes describe)."""
    from codewalk.sources import checkouts as sources
    from codewalk.sources.corpus import CORPUS_SUBTREES, Target
    from codewalk.query.session import open_index

    overrides = sources.parse_pairs(pairs)
    names = sorted(set(notes.sources) | {n.source for n in notes.notes} | set(overrides))
    indexes, notices = {}, []
    for name in names:
        if name == "core" and checkout is not None and name not in overrides:
            indexes[name] = open_index(Target(checkout, CORPUS_SUBTREES, builtin=True), progress=False)
            continue
        target = sources.resolve(name, notes.sources.get(name), overrides)
        if target is None:
            notices.append(f"source '{name}' skipped: no checkout (pass --source {name}=PATH)")
            continue
        indexes[name] = open_index(target, progress=False)
    return indexes, notices


def _check(args: argparse.Namespace) -> int:
    from codewalk.notes import check
    from codewalk.sources.checkouts import SourceError

    from codewalk.notes.schema import checkout_root

    checkout = None if args.annotations else checkout_root()
    notes, directory = _load_notes(args.annotations, checkout)
    try:
        indexes, notices = _indexes(notes, args.source, checkout)
    except SourceError as exc:
        return _fail(str(exc))
    if checkout is not None:
        notices.insert(0, f"using the notes of the codewalk checkout at {checkout} (--annotations DIR to choose)")
    statuses = check.check_notes(notes, {}, indexes)
    if args.refresh is not None:
        from codewalk.notes.refresh import refresh

        changed = refresh(notes, statuses, set(args.refresh), args.all)
        notices.append(f"refreshed {len(changed)} fingerprint(s): {', '.join(changed) or '-'}")
        statuses = check.check_notes(notes if not changed else _load_notes(args.annotations, checkout)[0], {}, indexes)
    from codewalk.notes.bilingual import gaps

    errors = notes.errors + (gaps(notes) if args.strict else [])  # --strict: both languages, in full
    failed = bool(errors) or any(s.status == "missing" for s in statuses)
    failed = failed or (args.strict and any(s.status == "drifted" for s in statuses))
    if args.json:
        print(json.dumps({"annotations": str(directory), "errors": errors, "notices": notices,
                          "summary": check.summary(statuses), "notes": [s.to_dict() for s in statuses]}))
    else:
        from codewalk.views.check import render

        render(errors, notices, statuses)
    return 1 if failed else 0


def _annotate(args: argparse.Namespace) -> int:
    from codewalk.notes import check
    from codewalk.sources import checkouts as sources
    from codewalk.cli.common import source_name, target_from_args
    from codewalk.query.session import open_index

    try:
        target = target_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.repo and not args.source and not os.environ.get("CODEWALK_SOURCE"):
        name = sources.identify(target.root, sources.known_sources()) or "core"
    else:
        name = source_name(args)
    args.source = name
    ix = open_index(target)
    entities = check.exact(ix, args.symbol) or ix.find(args.symbol)
    if not entities:
        hint = ", ".join(ix.suggestions(args.symbol)) or "none"
        return _fail(f"'{args.symbol}' not found in {target.root}; did you mean: {hint}", 1)
    qname = entities[0].qname
    same = [e for e in entities if e.qname == qname]
    print(stub(args.source, qname, check.symbol_fingerprint(ix, check.SymbolText(ix), same),
               f"{ix.path(same[0].primary)}:{same[0].primary['line']}"))
    return 0


def stub(source: str, qname: str, fingerprint: str, where: str) -> str:
    """A ready-to-edit note for one symbol (YAML, to paste under a file's `notes:`)."""
    parts = [p for p in re.split(r"::|\.", qname) if p][-2:]
    slug = ".".join(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", p).lower().replace("_", "-") for p in parts)
    return "\n".join([
        f"  # {where}",
        f"  - id: {source}.{slug}",
        f"    source: {source}",
        f"    symbol: {json.dumps(qname)}",
        f"    fingerprint: {fingerprint}",
        "    title: TODO one line, your own words",
        "    concepts: []",
        "    en: |",
        "      TODO what it does and why, in your own words",
        "    zh: |",
        "      TODO 中文说明",
        "    see_also: []",
    ])


def _history(args: argparse.Namespace) -> int:
    from codewalk.notes import history
    from codewalk.cli.common import target_from_args
    from codewalk.query.session import open_index

    try:
        target = target_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))
    ix = open_index(target)
    entities = ix.find(args.symbol)
    if not entities:
        hint = ", ".join(ix.suggestions(args.symbol)) or "none"
        return _fail(f"'{args.symbol}' not found; did you mean: {hint}", 1)
    entity = entities[0]
    row = entity.primary
    module = ix.conn.execute("SELECT module FROM files WHERE id=?", (row["file_id"],)).fetchone()[0] or None
    try:
        changes = history.symbol_history(target.root, ix.path(row), entity.qname, args.max, module=module)
    except history.HistoryError as exc:
        return _fail(str(exc), 1)
    if args.json:
        print(json.dumps({"symbol": entity.qname, "path": ix.path(row),
                          "commits": [c.to_dict() for c in changes]}))
        return 0
    from codewalk.views.check import render_history

    render_history(entity.qname, ix.path(row), changes)
    return 0
