"""The source registry: `$CODEWALK_HOME/sources.json`, one entry per named source.

An entry says where a source's code is (`location`), how it got there (`kind`: `path` for a
folder the user already had, `git` for a clone codewalk made, `pip` for a package codewalk
downloaded and unpacked) and which revision it is at. Only `owned` entries (git, pip) live under
`$CODEWALK_HOME/sources/NAME/`, and only those are ever deleted by codewalk.

The file is small JSON, rewritten whole through a temporary file and `os.replace`, under an
advisory lock, so a crash never leaves it half-written and two commands never lose each other's
entries. Downloads happen in `.partial-*` folders beside the final ones and are renamed into place
only when complete; leftovers of a killed process are swept on the next `source` command.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

REGISTRY_VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVED = {"core"}
PARTIAL = ".partial-"


class SourceError(ValueError):
    """A --source argument that cannot be used; the message says what to pass instead.

    Defined here, below `checkouts.py` (which re-exports it), so the registry can refuse a name
    without importing the module that imports it."""


@dataclass(slots=True)
class Entry:
    """One registered source."""

    name: str
    kind: str                 # path | git | pip
    location: str             # absolute folder holding the code
    origin: str = ""          # user path, git URL or pip spec / file it came from
    rev: str = ""             # what the user asked for (--rev, pinned revision, pip version)
    revision: str = ""        # what is checked out: commit sha, package version, '' if unknown
    history: bool = False     # git: full history fetched
    owned: bool = False       # codewalk downloaded it (and may delete it)
    added: str = ""
    updated: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.location)

    def to_dict(self) -> dict:
        return asdict(self)


def home() -> Path:
    """$CODEWALK_HOME, default ~/.cache/codewalk (the same rule as the index store)."""
    env = os.environ.get("CODEWALK_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "codewalk"


def registry_path() -> Path:
    return home() / "sources.json"


def sources_dir() -> Path:
    """Where codewalk puts the code it downloads: `$CODEWALK_HOME/sources/`."""
    return home() / "sources"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def load() -> dict[str, Entry]:
    """Every registered source by name; a missing file is an empty registry.

    A file that is not valid JSON raises ValueError naming it (codewalk never writes one).
    """
    path = registry_path()
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the source registry {path}: {exc}; "
                         f"fix or delete that file (sources must then be added again)") from exc
    known = {f.name for f in fields(Entry)}
    out: dict[str, Entry] = {}
    for name, body in (raw.get("sources") or {}).items():
        if isinstance(body, dict):
            out[name] = Entry(**{k: v for k, v in body.items() if k in known and k != "name"}, name=name)
    return out


def get(name: str) -> Entry | None:
    """The entry for name, or None (also when the registry cannot be read)."""
    try:
        return load().get(name)
    except ValueError:
        return None


def _save(entries: dict[str, Entry]) -> None:
    """Write the whole registry atomically (temp file in the same folder + os.replace)."""
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": REGISTRY_VERSION,
           "sources": {n: {k: v for k, v in e.to_dict().items() if k != "name"}
                       for n, e in sorted(entries.items())}}
    fd, tmp = tempfile.mkstemp(prefix=".sources-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked() -> Iterator[dict[str, Entry]]:
    """Read-modify-write the registry under an exclusive lock; changes to the dict are saved."""
    lock = home() / "sources.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        try:
            import fcntl
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no advisory lock, still atomic writes
            pass
        entries = load()
        before = {n: e.to_dict() for n, e in entries.items()}
        yield entries
        if {n: e.to_dict() for n, e in entries.items()} != before:
            _save(entries)


def put(entry: Entry) -> None:
    with locked() as entries:
        entries[entry.name] = entry


def delete(name: str) -> Entry | None:
    with locked() as entries:
        return entries.pop(name, None)


def validate_name(name: str) -> None:
    """A name usable as a folder and on the command line; `core` is the built-in corpus."""
    if name in RESERVED:
        raise SourceError(f"'{name}' is the built-in corpus and cannot be added; pick another name")
    if not NAME_RE.match(name):
        raise SourceError(f"invalid source name {name!r}: use letters, digits, '.', '_' or '-' "
                          f"(starting with a letter or digit), e.g. `ksanallm`")


def owned_location(name: str) -> Path:
    return sources_dir() / name


def is_inside_sources(path: Path) -> bool:
    """True when path is a folder codewalk created under $CODEWALK_HOME/sources/."""
    try:
        path.resolve().relative_to(sources_dir().resolve())
    except ValueError:
        return False
    return path.resolve() != sources_dir().resolve()


def partial_dir(name: str) -> Path:
    """A fresh empty folder beside the final location, named with our pid (for the sweep)."""
    base = sources_dir()
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{PARTIAL}{name}-{os.getpid()}-", dir=base))


def remove_tree(path: Path) -> None:
    """Delete a folder codewalk owns; refuses anything outside $CODEWALK_HOME/sources/."""
    if not is_inside_sources(path):
        raise RuntimeError(f"refusing to delete {path}: not under {sources_dir()}")

    def _writable(func, p, _exc):  # git object files are read-only
        with contextlib.suppress(OSError):
            os.chmod(p, 0o700)
            func(p)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=_writable)


def sweep() -> list[Path]:
    """Delete `.partial-*` folders left by a process that no longer runs; returns them."""
    base = sources_dir()
    removed: list[Path] = []
    if not base.is_dir():
        return removed
    for child in base.iterdir():
        if not child.name.startswith(PARTIAL):
            continue
        m = re.search(r"-(\d+)-[^-]*$", child.name)
        pid = int(m.group(1)) if m else -1
        if pid == os.getpid() or (pid > 0 and _alive(pid)):
            continue
        with contextlib.suppress(OSError, RuntimeError):
            remove_tree(child)
            removed.append(child)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
