"""Drill results per user: `$CODEWALK_HOME/drill/<user>.json`, rewritten atomically.

A file that cannot be read as stats is never overwritten in place: `load(repair=True)` moves it
aside to `<name>.corrupt-<time>` (the backup) and starts afresh; `load()` only reports it.
"""

from __future__ import annotations

import getpass
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

VERSION = 1


class StatsError(ValueError):
    """The stats file exists but is not a stats document; the message names the file."""


def stats_path(home: Path | None = None) -> Path:
    from codewalk.sources.registry import home as codewalk_home

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user) or "user"
    return (home or codewalk_home()) / "drill" / f"{safe}.json"


def empty() -> dict[str, Any]:
    return {"version": VERSION, "topics": {}}


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatsError(f"{path}: not a drill stats file ({exc})") from exc
    if not (isinstance(doc, dict) and isinstance(doc.get("topics"), dict)
            and all(isinstance(v, dict) for v in doc["topics"].values())):
        raise StatsError(f"{path}: not a drill stats file (expected {{'version', 'topics': {{...}}}})")
    return doc


def load(path: Path, repair: bool = False) -> tuple[dict[str, Any], str]:
    """(stats, message). A missing file is empty stats. A corrupt one raises StatsError, or with
    `repair` is moved to a backup and replaced by empty stats (the message says where it went)."""
    if not path.exists():
        return empty(), ""
    try:
        return _read(path), ""
    except StatsError as exc:
        if not repair:
            raise
        backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.replace(path, backup)
        return empty(), f"{exc}; kept it as {backup} and started afresh"


def save(path: Path, stats: dict[str, Any]) -> None:
    """Write stats whole: a temp file in the same folder, fsync, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(stats, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record(stats: dict[str, Any], topic: str, right: bool, when: float | None = None) -> dict[str, Any]:
    """Count one answered question: asked, right, current and best streak, last seen (UTC ISO)."""
    t = stats["topics"].setdefault(topic, {"asked": 0, "right": 0, "streak": 0, "best_streak": 0, "last_seen": ""})
    t["asked"] = int(t.get("asked", 0)) + 1
    t["right"] = int(t.get("right", 0)) + int(right)
    t["streak"] = int(t.get("streak", 0)) + 1 if right else 0
    t["best_streak"] = max(int(t.get("best_streak", 0)), t["streak"])
    t["last_seen"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when if when is not None else time.time()))
    return stats
