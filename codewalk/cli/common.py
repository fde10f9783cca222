"""Arguments every code-reading command shares: which code (--source / --repo) and --json."""

from __future__ import annotations

import argparse
import os

from codewalk.sources.corpus import Target, builtin


def add_target_args(p: argparse.ArgumentParser, json_flag: bool = True, all_sources: bool = False) -> None:
    """--source NAME, --repo PATH (and --json; --all-sources for `show`)."""
    p.add_argument("--source", default=None, metavar="NAME",
                   help="a named source (ksanallm, vllm, core, or one you added with `codewalk source add`); "
                        "default $CODEWALK_SOURCE, else core")
    p.add_argument("--repo", default=None, metavar="PATH", help="an unregistered checkout (default $CODEWALK_REPO)")
    if all_sources:
        p.add_argument("--all-sources", action="store_true",
                       help="search every registered source and core, grouped by source")
    if json_flag:
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def source_name(args: argparse.Namespace, default: str = "core") -> str:
    """The source NAME a command means: --source, else $CODEWALK_SOURCE, else default."""
    return getattr(args, "source", None) or os.environ.get("CODEWALK_SOURCE") or default


def target_from_args(args: argparse.Namespace) -> Target:
    """--repo, else --source, else $CODEWALK_REPO, else $CODEWALK_SOURCE, else the built-in corpus.

    A --source NAME is looked up in the registry (`codewalk source add`), then in the env variable
    sources.yaml names for it. Raises ValueError with a next step when NAME has no checkout.
    """
    from pathlib import Path

    from codewalk.sources import checkouts as sources

    repo = getattr(args, "repo", None) or (None if getattr(args, "source", None) else os.environ.get("CODEWALK_REPO"))
    if repo:
        return Target(Path(repo).expanduser().resolve())
    name = source_name(args)
    if name == "core":
        return builtin()
    target = sources.target(name)
    if target is None:
        raise ValueError(missing_source_message(name))
    return target


def missing_source_message(name: str) -> str:
    """'no checkout for X' with the command that gets one and the names that do exist."""
    from codewalk.sources import fetch, registry

    try:
        have = sorted(registry.load())
    except ValueError:
        have = []
    if name in fetch._names_with_defaults():
        how = f"`codewalk source add {name}`"
    else:
        how = f"`codewalk source add {name} PATH` (or --git URL / --pip SPEC)"
    known = f" (registered: {', '.join(have + ['core'])})" if have else ""
    return f"no checkout for source '{name}': run {how}, or pass --repo PATH{known}"


class CommandError(Exception):
    """An expected failure, printed by the CLI's boundary as `codewalk <command>: <message>`.

    status: 1 for not found / failed check, 2 for usage, bad input or environment.
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def describe_os_error(exc: OSError) -> str:
    """'<path>: <why>' for an OSError, whatever raised it."""
    why = exc.strerror or str(exc)
    path = exc.filename if exc.filename is not None else ""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return f"{path}: {why}" if path else why
