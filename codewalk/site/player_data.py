"""The players' data: every codewalk internal the players use is imported here, and only here.

The frames come from the demo replays (`schedule_frames`, `prefix_cache_frames`); this module turns
them into plain, JSON-ready dicts so `player.py` knows nothing of the core or of rich.
"""

from __future__ import annotations

from typing import Any

from codewalk.lessons.replay import (SCHEDULE_CONFIG, SCHEDULE_NOTE, prefix_cache_frames, schedule_frames,
                                     validate_trace)

__all__ = ["SCHEDULE_NOTE", "validate_trace", "core_schedule", "core_prefix_cache", "real_schedule", "device_blocks"]


def device_blocks() -> int:
    """The device pool the schedule replay runs on (every trace uses the same pool)."""
    return int(SCHEDULE_CONFIG["device_blocks"])


def _core() -> Any:
    import codewalk.core as engine

    return engine


def core_schedule(trace: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The core's scheduler frames for `trace` (None = the built-in one), as plain dicts."""
    return [f.to_dict() for f in schedule_frames(_core(), trace)]


def core_prefix_cache() -> list[dict[str, Any]]:
    """The core's prefix-cache frames (the built-in cache trace), as plain dicts."""
    return [f.to_dict() for f in prefix_cache_frames(_core())]


def real_schedule(trace: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]] | None, str]:
    """(frames, label) of KsanaLLM's real scheduler when it is already built, else (None, why not).

    Never builds: a site build must not start a compile; `codewalk upstream build` does that.
    """
    from codewalk.upstream.build import engine

    try:
        real = engine(build_if_missing=False)
        frames = [f.to_dict() for f in schedule_frames(real, trace)]
    # BuildError (not built, no checkout) and CoreError (a refused call) are RuntimeErrors; the real
    # column is optional, so any failure of the real engine becomes the page's note, never the build's.
    except (RuntimeError, OSError, ImportError, ValueError) as e:
        return None, " ".join(str(e).split())
    return frames, f"KsanaLLM {real.commit[:8]} ({real.root})"
