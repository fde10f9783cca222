"""On-disk cache of reference results for bench/calls.py.

jedi and clang take minutes over the selected files while codewalk's side takes seconds, so the
reference is stored under `$CODEWALK_HOME/bench/calls/<engine>-<key>/`, one JSON file per unit
(a Python file, a translation unit): an interrupted run resumes where it stopped. The key hashes
the reference's own version, the tool's version, extra inputs (stand-in headers, flags) and the
(path, size, mtime) of every source file under the checkout's watched folders, so any edit to
the checkout or to the rules makes a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from calls_score import RefSite

# Bump when a reference's rules change (what counts as a site, how it is classified).
REFERENCE_VERSION = "1"
_SOURCE_SUFFIXES = (".py", ".pyi", ".h", ".hpp", ".hh", ".cpp", ".cc", ".cxx", ".cu", ".cuh", ".inc")


def home() -> Path:
    env = os.environ.get("CODEWALK_HOME")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "codewalk"
    return base / "bench" / "calls"


def tree_key(root: Path, folders: tuple[str, ...], extra: str) -> str:
    """A digest of every source file's (path, size, mtime) under root/folder, plus extra."""
    h = hashlib.sha1(f"{REFERENCE_VERSION}\0{extra}\0".encode())
    for folder in folders:
        base = root / folder
        entries = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.endswith(_SOURCE_SUFFIXES):
                    p = os.path.join(dirpath, name)
                    try:
                        st = os.stat(p)
                    except OSError:
                        continue
                    entries.append(f"{os.path.relpath(p, root)}\0{st.st_size}\0{st.st_mtime_ns}")
        for e in sorted(entries):
            h.update(e.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()[:16]


class UnitCache:
    """One JSON file of RefSites per unit, in a folder named by engine and key."""

    def __init__(self, engine: str, key: str, enabled: bool = True) -> None:
        self.dir = home() / f"{engine}-{key}"
        self.enabled = enabled

    def _file(self, unit: str) -> Path:
        safe = hashlib.sha1(unit.encode()).hexdigest()[:12] + "-" + Path(unit).name
        return self.dir / f"{safe}.json"

    def get(self, unit: str) -> tuple[list[RefSite], dict] | None:
        """Cached sites and metadata of a unit, or None (missing, disabled or unreadable)."""
        if not self.enabled:
            return None
        try:
            data = json.loads(self._file(unit).read_text(encoding="utf-8"))
            return [RefSite(**s) for s in data["sites"]], data.get("meta", {})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, unit: str, sites: list[RefSite], meta: dict) -> None:
        """Store atomically (temp file + rename), so a killed run never leaves half a file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self._file(unit)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        from dataclasses import asdict
        tmp.write_text(json.dumps({"unit": unit, "meta": meta,
                                   "sites": [asdict(s) for s in sites]}), encoding="utf-8")
        os.replace(tmp, target)
