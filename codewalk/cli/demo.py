"""`codewalk demo …`: step the bound core through a built-in trace (filled in by the core work)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    p = sub.add_parser("demo", help="replay a built-in trace through the C++ core")
    p.add_argument("name", choices=["prefix-cache", "schedule"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from codewalk.views.demo import run_demo

    return run_demo(args.name, as_json=args.json)
