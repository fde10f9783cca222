"""On-disk cache of reference results for bench/calls.py.

jedi and clang take minutes over the selected files while codewalk's side takes seconds, so the
reference is stored under `$CODEWALK_HOME/bench/calls/<engine>-<key>/`, one JSON file per unit
(a Python file, a translation unit): an interrupted run resumes where it stopped. The key hashes
the reference's own version, the tool's version, extra inputs (stand-in headers, flags) and the
content of every source file under the checkout's watched folders, so any edit to the checkout
or to the rules makes a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
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
    """A digest of every source file's content under root/folder, plus extra.

    Content, not stat: `bench/index.py` touches a file of the checkout it measures (and puts the
    bytes back), which must not throw away ten minutes of jedi. A stat -> digest memo under the
    cache keeps this to stat calls when nothing changed."""
    memo_path = home() / f"digests-{hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]}.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    fresh: dict[str, list] = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(root / folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.endswith(_SOURCE_SUFFIXES):
                    _digest(root, os.path.join(dirpath, name), memo, fresh)
    h = hashlib.sha1(f"{REFERENCE_VERSION}\0{extra}\0".encode())
    for rel in sorted(fresh):
        h.update(f"{rel}\0{fresh[rel][2]}\n".encode("utf-8", "surrogateescape"))
    if fresh != memo:
        _write_json(memo_path, fresh)
    return h.hexdigest()[:16]


def _digest(root: Path, path: str, memo: dict, fresh: dict) -> None:
    """fresh[rel] = [size, mtime_ns, sha1 of the content], reusing memo while the stat holds."""
    try:
        st = os.stat(path)
    except OSError:
        return
    rel = os.path.relpath(path, root)
    old = memo.get(rel)
    if old and old[0] == st.st_size and old[1] == st.st_mtime_ns:
        fresh[rel] = old
        return
    try:
        with open(path, "rb") as fh:
            fresh[rel] = [st.st_size, st.st_mtime_ns, hashlib.sha1(fh.read()).hexdigest()]
    except OSError:
        return


def _write_json(path: Path, data: object) -> None:
    """Atomic rewrite (temp file + rename): a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


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
        """Store atomically, so a killed run never leaves half a file."""
        _write_json(self._file(unit), {"unit": unit, "meta": meta, "sites": [asdict(s) for s in sites]})
