"""`codewalk guide [ID]`: list guides, walk one, or export it (md, html, tour)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the guide subcommand."""
    p = sub.add_parser("guide", help="reading guides: list, walk one, or export it")
    p.add_argument("id", nargs="?", help="guide id (omit to list)")
    p.add_argument("--all", action="store_true", help="print every step, no prompting")
    p.add_argument("--format", choices=["md", "html", "tour"], default=None, help="export instead of walking")
    p.add_argument("-o", "--output", default=None, help="file to write the export to (default stdout)")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="language (default: locale)")
    p.add_argument("--source", action="append", default=[], metavar="NAME[=PATH]",
                   help="a registered source, or NAME=PATH for a checkout (repeatable)")
    p.add_argument("--json", action="store_true", help="list or resolve as JSON")
    p.set_defaults(func=_guide)


def _guide(args: argparse.Namespace) -> int:
    from codewalk.notes.schema import annotations_dir, load
    from codewalk.guides.schema import guides_dir, load_guides
    from codewalk.notes.bilingual import default_lang

    lang = args.lang or default_lang()
    notes = load(annotations_dir())
    guides = load_guides(guides_dir(annotations_dir()), notes)
    for problem in guides.errors:
        print(f"codewalk: warning: {problem}", file=sys.stderr)
    if not args.id:
        return _list(guides, lang, args.json)
    guide = guides.get(args.id)
    if guide is None:
        known = ", ".join(g.id for g in guides.ordered()) or "none"
        print(f"codewalk: no guide '{args.id}' (known: {known})", file=sys.stderr)
        return 1
    from codewalk.guides.resolve import resolve_guide
    from codewalk.sources.checkouts import SourceError, parse_pairs

    try:
        overrides = parse_pairs([s for s in args.source if "=" in s])
    except SourceError as exc:
        print(f"codewalk: {exc}", file=sys.stderr)
        return 2
    from codewalk.sources import checkouts as sources

    for name in (s for s in args.source if "=" not in s):  # a bare name must mean a known checkout
        if sources.target(name) is None:
            print(f"codewalk: no checkout for source '{name}': run `codewalk source add {name}`", file=sys.stderr)
            return 2
    rg = resolve_guide(guide, notes, overrides)
    if args.format:
        return _export(rg, args.format, lang, args.output)
    if args.json:
        from codewalk.guides.resolve import guide_doc

        print(json.dumps(guide_doc(rg, lang), ensure_ascii=False, indent=2))
        return 0
    from codewalk.guides.diagrams import for_steps
    from codewalk.views.guide import walk

    walk(rg, lang, interactive=not args.all and sys.stdin.isatty() and sys.stdout.isatty(), figures=for_steps(rg))
    return 0


def _list(guides, lang: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps(guides.list_doc(lang), ensure_ascii=False))
        return 0
    from codewalk.views.guide import list_guides

    list_guides(guides, lang)
    return 0


def _export(rg, fmt: str, lang: str, output: str | None) -> int:
    if fmt == "md":
        from codewalk.guides.export.markdown import render
    elif fmt == "html":
        from codewalk.guides.export.html import render
    else:
        from codewalk.guides.export.codetour import render
    text = render(rg, lang)
    if output is None:
        sys.stdout.write(text)
        return 0
    Path(output).parent.mkdir(parents=True, exist_ok=True)  # -o may name a folder not made yet
    Path(output).write_text(text, encoding="utf-8")
    print(f"wrote {output} ({len(rg.steps)} steps)", file=sys.stderr)
    return 0
