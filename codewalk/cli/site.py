"""`codewalk site -o DIR`: the offline, cross-referenced, annotated website."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codewalk.cli.common import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the site subcommand."""
    p = sub.add_parser("site", help="write a static, offline, cross-referenced site of the sources, notes and guides")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the site into")
    p.add_argument("--source", action="append", default=[], metavar="NAME[=PATH]",
                   help="a registered source, `core`, or NAME=PATH for a checkout (repeatable; default: core "
                        "and every registered source)")
    p.add_argument("--repo", default=None, metavar="PATH", help="an unregistered checkout (named after what it is)")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="language of notes and guides (default: locale)")
    p.add_argument("--trace", default=None, metavar="FILE",
                   help="the scheduler player's trace instead of the built-in one: a JSON list of requests "
                        "{arrival, prompt, max_new_tokens[, id]}, as `demo schedule --trace` takes")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (default: up to 2)")
    p.add_argument("--history", action=argparse.BooleanOptionalAction, default=True,
                   help="the git history of annotated symbols in their panels, when the checkout has git "
                        "(default; each file is re-read at every commit that touched it, then cached by HEAD)")
    p.add_argument("--json", action="store_true", help="print a JSON summary of the build")
    p.set_defaults(func=_site)


RESERVED = frozenset({"assets", "guides", "play"})  # the site's own folders under DIR


def _targets(args: argparse.Namespace) -> dict:
    """Site folder name -> checkout: the --source/--repo given, else core and every registered source."""
    from codewalk.site import data

    targets: dict = {}
    for spec in args.source:
        name, sep, path = spec.partition("=")
        if not name or (sep and not path) or "/" in name or name.startswith("."):
            raise CommandError(f"--source {spec!r}: expected NAME or NAME=PATH")
        if name in RESERVED:
            raise CommandError(f"--source {spec!r}: '{name}' names a folder of the site itself; "
                               f"register the checkout under another name")
        targets[name] = data.source_target(name, Path(path).expanduser().resolve() if sep else None)
    if args.repo:
        root = Path(args.repo).expanduser().resolve()
        if not root.is_dir():
            raise CommandError(f"--repo {args.repo}: not a directory")
        name = data.identify(root, False) or root.name or "repo"
        name = f"{name}-repo" if name in RESERVED else name
        targets[name] = data.Target(root)
    if not targets:
        targets["core"] = data.builtin()
        for name, target in data.registered_sources().items():
            targets.setdefault(f"{name}-source" if name in RESERVED else name, target)
    return targets


def _site(args: argparse.Namespace) -> int:
    from codewalk.site import data
    from codewalk.site.build import build_site

    out = Path(args.output).expanduser()
    if out.exists() and not out.is_dir():
        raise CommandError(f"-o {args.output}: exists and is not a folder")
    trace = None
    if args.trace:
        from codewalk.site.player import load_trace

        try:
            trace = load_trace(args.trace)  # checked before a page is written
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    lang = args.lang or data.default_lang()
    stats = build_site(out, _targets(args), lang, trace, jobs=args.jobs,
                       progress=None if not args.json else False, history=args.history)
    for problem in stats.problems:
        print(f"codewalk site: warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"wrote {out}/index.html: {stats.pages} pages ({stats.written} written, {stats.removed} removed), "
          f"{stats.bytes / 1e6:.1f} MB in {stats.seconds:.1f}s", file=sys.stderr)
    return 0
