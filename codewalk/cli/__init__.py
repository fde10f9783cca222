"""The `codewalk` command: one argparse parser, one module per group of subcommands."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from codewalk.cli import code, demo, drill, guide, notes, source, upstream

# Each module adds its subcommands and sets `func` on them; `func(args) -> int` is the exit status.
_GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (code.register, notes.register, guide.register,
                                                                       source.register, demo.register,
                                                                       upstream.register, drill.register)


def build_parser() -> argparse.ArgumentParser:
    """The full parser; usage errors exit with status 2 (argparse's convention)."""
    parser = argparse.ArgumentParser(
        prog="codewalk",
        description="Read KsanaLLM and vLLM: symbols, calls, notes and guides, plus a runnable C++ core "
                    "of KsanaLLM's prefix cache and scheduler.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _GROUPS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
