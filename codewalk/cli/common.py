"""Arguments every code-reading command shares: which code (--source / --repo) and --json."""

from __future__ import annotations

import argparse
import os

from codewalk.corpus import Target, builtin


def add_target_args(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    """--source NAME, --repo PATH (and --json)."""
    p.add_argument("--source", default=None, metavar="NAME",
                   help="a named source (ksanallm, vllm, core, or one you added); default $CODEWALK_SOURCE, else core")
    p.add_argument("--repo", default=None, metavar="PATH", help="an unregistered checkout (default $CODEWALK_REPO)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def target_from_args(args: argparse.Namespace) -> Target:
    """--repo, else --source, else $CODEWALK_REPO, else $CODEWALK_SOURCE, else the built-in corpus.

    Raises ValueError with a next step when a named source has no checkout.
    """
    from pathlib import Path

    from codewalk import sources

    repo = getattr(args, "repo", None) or (None if getattr(args, "source", None) else os.environ.get("CODEWALK_REPO"))
    if repo:
        return Target(Path(repo).expanduser().resolve())
    name = getattr(args, "source", None) or os.environ.get("CODEWALK_SOURCE") or "core"
    if name == "core":
        return builtin()
    target = sources.target(name)
    if target is None:
        raise ValueError(f"no checkout for source '{name}': run `codewalk source add {name}` "
                         f"or pass --repo PATH")
    return target
