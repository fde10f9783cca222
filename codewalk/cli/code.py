"""Code-reading subcommands: index, show, callers, callees, search, graph (indexer work fills this)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the code-reading subcommands."""
