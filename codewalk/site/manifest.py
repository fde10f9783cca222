"""`DIR/.codewalk-site.json`: what each page was made from and what was written, so a rebuild
writes only pages whose content changed and skips rendering pages whose inputs did not."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

NAME = ".codewalk-site.json"
VERSION = "1"


def _code_version() -> str:
    """A hash of the site package's own source: a page made by other code is never kept."""
    h = hashlib.sha1(VERSION.encode())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


CODE_VERSION = _code_version()


def digest(data: bytes | str) -> str:
    return hashlib.sha1(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


@dataclass
class Manifest:
    """Per page (path relative to DIR): `key` (hash of its inputs) and `hash` (of its content)."""

    out: Path
    pages: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, out: Path, settings: str) -> "Manifest":
        """The previous build's manifest; empty when absent, unreadable or built with other settings."""
        m = cls(out)
        try:
            doc = json.loads((out / NAME).read_text("utf-8"))
        except (OSError, ValueError):
            return m
        if isinstance(doc, dict) and doc.get("version") == VERSION and doc.get("settings") == settings \
                and isinstance(doc.get("pages"), dict):
            m.pages = {k: v for k, v in doc["pages"].items() if isinstance(v, dict)}
        return m

    def fresh(self, rel: str, key: str) -> bool:
        """Whether the page was made from the same inputs and is still on disk (then keep it)."""
        entry = self.pages.get(rel)
        if entry is not None and entry.get("key") == key and (self.out / rel).is_file():
            self.seen.add(rel)
            return True
        return False

    def write(self, rel: str, content: str, key: str = "", always: bool = False) -> bool:
        """Write the page unless identical content is already there; True when written."""
        self.seen.add(rel)
        data = content.encode("utf-8")
        h = digest(data)
        entry = self.pages.get(rel)
        path = self.out / rel
        if not always and entry is not None and entry.get("hash") == h and path.is_file():
            entry["key"] = key
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.pages[rel] = {"key": key, "hash": h}
        self.written.append(rel)
        return True

    def finish(self, settings: str) -> None:
        """Delete pages an earlier build wrote that this one did not produce; save the manifest."""
        for rel in sorted(set(self.pages) - self.seen):
            try:
                (self.out / rel).unlink()
            except FileNotFoundError:
                pass
            self.removed.append(rel)
            del self.pages[rel]
        doc = {"version": VERSION, "settings": settings, "pages": self.pages}
        tmp = self.out / f".{NAME}.tmp{os.getpid()}"
        tmp.write_text(json.dumps(doc, sort_keys=True), "utf-8")
        os.replace(tmp, self.out / NAME)
