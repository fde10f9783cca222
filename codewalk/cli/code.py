"""Code-reading subcommands: index, show, callers, callees, search, graph.

Imports stay inside the handlers so `codewalk show` on a fresh index never loads tree-sitter,
networkx or GitPython.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the code-reading subcommands."""
    p = sub.add_parser("index", help="index a repository (incremental)")
    p.add_argument("path")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip paths matching GLOB (e.g. '3rdparty/*'); repeatable")
    p.add_argument("--jobs", type=int, default=None, help="parser processes (default: cores)")
    p.set_defaults(func=_index)

    p = _query(sub, "show", "declaration, definition, callers, callees and notes of a symbol", all_sources=True)
    p.add_argument("--no-source", action="store_true", help="omit the definition's source")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="language of notes (default: locale)")
    p.add_argument("--pick", type=_positive, default=None, metavar="N",
                   help="show the N-th of several ranked matches (see the list under the first)")
    p.add_argument("--heuristic", action="store_true",
                   help="also list calls resolved only by name (guesses); JSON always has them")
    p.set_defaults(func=_show)

    for name, helptext in (("callers", "who calls a symbol"), ("callees", "what a symbol calls")):
        p = _query(sub, name, helptext)
        p.add_argument("--depth", type=_positive, default=1,
                       help=f"follow {name} of {name} this many levels (default 1)")
        p.add_argument("--heuristic", action="store_true",
                       help="also list calls resolved only by name (guesses)")
        p.set_defaults(func=_relations, direction=name)

    p = sub.add_parser("search", help="symbols whose qualified name contains PATTERN")
    p.add_argument("pattern")
    p.add_argument("--kind", default=None,
                   help="only this kind: class, struct, enum, namespace, module, function, method, "
                        "constructor, destructor, operator, field, macro, ...")
    p.add_argument("--limit", type=_positive, default=SEARCH_LIMIT, help=f"at most this many results ({SEARCH_LIMIT})")
    _common(p)
    p.set_defaults(func=_search)

    p = _query(sub, "graph", "call graph around a symbol")
    p.add_argument("--depth", type=_positive, default=1, help="edges this many calls away (default 1)")
    p.add_argument("--format", choices=["mermaid", "dot", "json"], default="mermaid")
    p.add_argument("--direction", choices=["callees", "callers", "both"], default="callees")
    p.add_argument("--heuristic", action="store_true",
                   help="also draw calls resolved only by name (dashed); default: exact edges only")
    p.set_defaults(func=_graph)


SEARCH_LIMIT = 200


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _common(p: argparse.ArgumentParser, all_sources: bool = False) -> None:
    from codewalk.cli.common import add_target_args

    add_target_args(p, all_sources=all_sources)


def _query(sub: argparse._SubParsersAction, name: str, helptext: str,
           all_sources: bool = False) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=helptext)
    p.add_argument("name")
    _common(p, all_sources)
    return p


def _open(args: argparse.Namespace):
    """(Index, repo label) for --repo / $CODEWALK_REPO / built-in corpus; None on error."""
    from codewalk.cli.common import target_from_args
    from codewalk.query.session import open_index
    try:
        target = target_from_args(args)
        if not target.root.is_dir():
            raise FileNotFoundError(f"not a directory: {target.root}")
        ix = open_index(target, progress=not args.json)
    except (OSError, ValueError) as exc:
        from codewalk.cli.common import describe_os_error
        why = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        print(f"codewalk {args.command}: {why}", file=sys.stderr)
        return None, ""
    return ix, ("builtin" if target.builtin else str(target.root))


def _index(args: argparse.Namespace) -> int:
    from pathlib import Path

    from codewalk.index.build import index_repo
    try:
        stats = index_repo(Path(args.path), exclude=tuple(args.exclude), jobs=args.jobs,
                           progress=not (args.quiet or args.json))
    except (OSError, ValueError) as exc:
        print(f"codewalk index: {args.path}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, FileNotFoundError) else 1
    doc = {"root": stats.root, "files": stats.files, "parsed": stats.parsed,
           "removed": stats.removed, "symbols": stats.symbols, "edges": stats.edges,
           "parse_errors": stats.parse_errors, "parse_error_files": stats.error_files, "skipped": stats.skipped,
           "seconds": stats.seconds, "db": stats.db}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"files {stats.files}  symbols {stats.symbols}  edges {stats.edges}  "
          f"parse errors {stats.parse_errors}  seconds {stats.seconds:.2f}  "
          f"(parsed {stats.parsed}, removed {stats.removed})")
    if stats.error_files:
        print(f"warning: parse errors in {len(stats.error_files)} file(s) (indexed as far as they parse): "
              + ", ".join(stats.error_files), file=sys.stderr)
    for reason, n in sorted(stats.skipped.items()):
        print(f"warning: skipped {n} file(s): {reason}", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.all_sources:
        if args.source or args.repo:
            print("codewalk show: --all-sources searches every source; drop --source/--repo", file=sys.stderr)
            return 2
        return _show_all(args)
    ix, label = _open(args)
    if ix is None:
        return 2
    from codewalk.query.answer import definition_source, show_doc
    from codewalk.views import show as view

    doc = show_doc(ix, args.name, label, args.lang, pick=args.pick)
    if args.json:
        view.print_json(doc)
    else:
        excerpt = definition_source(ix.root, doc["matches"][0]) if doc["matches"] and not args.no_source else None
        view.render(doc, excerpt, args.heuristic)
    return 0 if doc["matches"] else 1


def _show_all(args: argparse.Namespace) -> int:
    """`show --all-sources`: every registered source and core; exit status 1 when none has a match."""
    from codewalk.query.answer import all_sources, all_sources_doc, definition_source
    from codewalk.views import show as view

    docs, roots, skipped = all_sources(args.name, args.lang, progress=not args.json)
    found = any(d["matches"] for d in docs.values())
    if args.json:
        view.print_json(all_sources_doc(args.name, docs, skipped))
        return 0 if found else 1
    excerpts = {name: [None if args.no_source else definition_source(roots[name], m) for m in d["matches"]]
                for name, d in docs.items()}
    view.render_all(args.name, docs, excerpts, skipped)
    return 0 if found else 1


def _not_found(ix, args: argparse.Namespace, label: str, extra: dict) -> int:
    suggestions = ix.suggestions(args.name)
    if args.json:
        print(json.dumps({"query": args.name, "repo": label, **extra,
                          "suggestions": suggestions}, indent=2))
    else:
        print(f"not found: no symbol named {args.name or '(an empty name)'} in {label}", file=sys.stderr)
        if suggestions:
            print("did you mean: " + ", ".join(suggestions), file=sys.stderr)
    return 1


def _relations(args: argparse.Namespace) -> int:
    ix, label = _open(args)
    if ix is None:
        return 2
    from codewalk.query.answer import relations_matches
    entities = ix.find(args.name)
    if not entities:
        return _not_found(ix, args, label, {"matches": []})
    matches = relations_matches(ix, entities, args.direction, args.depth)
    if args.json:
        print(json.dumps({"query": args.name, "repo": label, "matches": matches}, indent=2))
        return 0
    from codewalk.views.listing import render_relations
    render_relations(matches, args.direction, args.heuristic)
    return 0


def _search(args: argparse.Namespace) -> int:
    ix, label = _open(args)
    if ix is None:
        return 2
    if not args.pattern.strip():
        print("codewalk search: PATTERN is empty: give part of a name (globs * and ? work)", file=sys.stderr)
        return 2
    from codewalk.query.answer import search_results, symbol_kinds
    kinds = symbol_kinds(ix)
    if args.kind is not None and args.kind not in kinds:
        print(f"codewalk search: --kind {args.kind!r}: no symbol of that kind in {label}; "
              f"kinds: {', '.join(kinds)}", file=sys.stderr)
        return 2
    results, truncated = search_results(ix, args.pattern, args.kind, args.limit)
    if args.json:
        print(json.dumps({"query": args.pattern, "repo": label, "results": results, "truncated": truncated},
                         indent=2))
    else:
        from codewalk.views.listing import render_search
        render_search(results, truncated, args.pattern, args.kind, label, args.limit)
    return 0 if results else 1


def _graph(args: argparse.Namespace) -> int:
    ix, label = _open(args)
    if ix is None:
        return 2
    entities = ix.find(args.name)
    if not entities:
        return _not_found(ix, args, label, {"nodes": [], "edges": []})
    from codewalk.query.graph import call_graph, export, to_json
    from codewalk.query.resolve import Resolver
    g = call_graph(Resolver(ix), entities, args.depth, args.direction, include_heuristic=args.heuristic)
    if args.json:
        print(json.dumps({"query": args.name, "repo": label, **to_json(g)}, indent=2))
    else:
        sys.stdout.write(export(g, args.format))
    return 0
