"""The `codewalk` command: one argparse parser, one module per group of subcommands.

`main` is the one error boundary: an expected failure (`CommandError`, a bad value, a file that
cannot be read or written) is one line `codewalk <command>: <what>: <why>` with exit status 1
(not found, failed check) or 2 (usage, bad input, environment); a closed stdout (`| head`) ends
quietly with 0; anything else is a bug, reported in one line (the traceback with CODEWALK_DEBUG=1).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from codewalk.cli import code, demo, drill, guide, notes, site, source, upstream
from codewalk.cli.common import CommandError, describe_os_error

# Each module adds its subcommands and sets `func` on them; `func(args) -> int` is the exit status.
_GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (code.register, notes.register, guide.register,
                                                                       source.register, demo.register,
                                                                       upstream.register, drill.register,
                                                                       site.register)
_ACTIONS = ("source_command", "upstream_command")  # dests of nested subcommand groups


def build_parser() -> argparse.ArgumentParser:
    """The full parser; usage errors exit with status 2 (argparse's convention)."""
    from codewalk import __version__

    parser = argparse.ArgumentParser(
        prog="codewalk",
        description="Read KsanaLLM and vLLM: symbols, calls, notes and guides, plus a runnable C++ core "
                    "of KsanaLLM's prefix cache and scheduler.")
    parser.add_argument("--version", action="version", version=f"codewalk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _GROUPS:
        register(sub)
    return parser


def command_name(args: argparse.Namespace) -> str:
    """'show', 'source add': the words that name the command in error messages."""
    words = [getattr(args, "command", None)] + [getattr(args, a, None) for a in _ACTIONS]
    return " ".join(w for w in words if w)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    prefix = f"codewalk {command_name(args)}"
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe must fail here, inside the boundary, not at exit
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except CommandError as exc:
        return _fail(f"{prefix}: {exc}", exc.status)
    except OSError as exc:
        return _fail(f"{prefix}: {describe_os_error(exc)}", 2)
    except (ValueError, LookupError) as exc:
        return _fail(f"{prefix}: {exc}", 2)
    except Exception as exc:  # noqa: BLE001 - the boundary: a bug, reported in one line
        if type(exc).__name__ == "CoreError":  # the core refused the input (codewalk.core.errors)
            return _fail(f"{prefix}: {exc}", 2)
        if os.environ.get("CODEWALK_DEBUG") == "1":
            raise
        where = _origin(exc)
        return _fail(f"{prefix}: internal error: {type(exc).__name__}: {exc}{where} — this is a bug in codewalk; "
                     f"rerun with CODEWALK_DEBUG=1 for the traceback and report it", 1)


def _fail(line: str, status: int) -> int:
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        _silence_stdout()
    print(line.replace("\n", " "), file=sys.stderr)
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _origin(exc: BaseException) -> str:
    """' (at file.py:line)' of the innermost frame, for the bug report."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f" (at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno})"
